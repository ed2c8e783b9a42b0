"""Settling transfers whose outcome is unknown, from the balances the API shows.

The assumption every rule stands on (the guide states it to operators too): **from the snapshot
taken before the run until the balances are read for settlement, no credit enters the main
account or the run's sub-accounts except through this run's transfers** (no purchase, no
transfer by another tool or person, no sub-account deleted); any of them may spend credit.

Under it, an account credit flows *into* can only rise through the run's transfers, and an
account credit flows *out of* can only fall through them or through spending. So:

- the destination (each sub-account for ``add``, the main account for ``remove``) gives a lower
  bound: the highest balance seen since the snapshot (now, or in an applied transfer's answer),
  minus the balance before, minus the confirmed transfers into it, is what the unknown
  transfers into it must at least have brought;
- the source (the main account for ``add``, each sub-account for ``remove``) gives an upper
  bound: the balance before, minus the balance now, minus the confirmed transfers out of it, is
  the most the unknown transfers out of it can have taken.

An unknown item is ``landed`` when every set of landed unknowns that meets every bound contains
it, ``not_landed`` when none does, and ``undecided`` otherwise. Spending can hide a transfer
that landed, so a rule never claims more than these bounds prove; when the balances break the
assumption, nothing about the accounts involved is claimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Literal, TypeAlias

import attrs

__all__ = [
    "ASSUMPTION",
    "Direction",
    "Ledger",
    "Settlement",
    "SettlementVerdict",
    "settle",
]

ASSUMPTION = (
    "from the snapshot before the run until now, no credit entered the main account or these "
    "sub-accounts except through this run's transfers; any of them may have spent credit"
)

Direction: TypeAlias = Literal["add", "remove"]
SettlementVerdict: TypeAlias = Literal["landed", "not_landed", "undecided"]
"""What the balances prove about an unknown transfer: ``"landed"`` (it was applied),
``"not_landed"`` (it was not) or ``"undecided"`` (they cannot tell: a person must)."""

#: Above this many unknown transfers to one sub-account, its items are left to a person
#: rather than enumerating every combination.
MAX_UNKNOWN_PER_SUBACCOUNT = 16


@attrs.frozen
class Settlement:
    """The verdict on one item whose outcome was unknown, and the evidence behind it.

    ``index`` is the item's position in the run's input; ``evidence`` holds the figures, one
    line each, that the verdict rests on.

    ```python
    for s in await journal.settle(client):
        print(s.index, s.token, s.amount, s.verdict)
        for line in s.evidence:
            print("   ", line)
    ```
    """

    index: int
    """The item's position in the run's input, from 0."""
    token: str
    """The item's sub-account token."""
    amount: Decimal
    """The item's amount."""
    verdict: SettlementVerdict
    """What the balances prove: ``"landed"``, ``"not_landed"`` or ``"undecided"``."""
    evidence: tuple[str, ...]
    """The figures the verdict rests on, one line each."""


@attrs.frozen
class Item:
    """One item of the run as settlement sees it."""

    index: int
    token: str
    amount: Decimal
    state: Literal["applied", "unknown", "other"]
    subaccount_balance: Decimal | None = None
    account_balance: Decimal | None = None


@attrs.frozen
class Ledger:
    """The balances: before the run (the snapshot) and now."""

    main_before: Decimal
    main_now: Decimal
    before: Mapping[str, Decimal]
    now: Mapping[str, Decimal]


_INF = Decimal("Infinity")


@attrs.define
class _Account:
    """One sub-account's unknown items and the sets of them its own bound allows."""

    token: str
    unknown: list[Item]
    low: Decimal = Decimal(0)
    high: Decimal = _INF
    lines: list[str] = attrs.field(factory=list[str])
    broken: bool = False
    # Every allowed subset, as (sum, bitmask over `unknown`).
    subsets: list[tuple[Decimal, int]] = attrs.field(factory=list[tuple[Decimal, int]])


def settle(direction: Direction, items: Sequence[Item], ledger: Ledger) -> list[Settlement]:
    """Decide every ``unknown`` item of ``items`` from ``ledger``; see the module's rules."""
    unknown = [item for item in items if item.state == "unknown"]
    if not unknown:
        return []
    applied = [item for item in items if item.state == "applied"]
    accounts: dict[str, _Account] = {}
    for item in unknown:
        accounts.setdefault(item.token, _Account(item.token, [])).unknown.append(item)
    for account in accounts.values():
        _bound_subaccount(direction, account, applied, ledger)
    global_lines, low, high = _bound_main(direction, accounts, unknown, applied, ledger)
    verdicts = _decide(accounts, low, high)
    out: list[Settlement] = []
    for item in unknown:
        account = accounts[item.token]
        verdict, why = verdicts[item.index]
        evidence = (*account.lines, *global_lines, why)
        out.append(Settlement(item.index, item.token, item.amount, verdict, evidence))
    return out


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))


def _bound_subaccount(
    direction: Direction, account: _Account, applied: Sequence[Item], ledger: Ledger
) -> None:
    token = account.token
    before = ledger.before.get(token)
    now = ledger.now.get(token)
    pending = _sum(i.amount for i in account.unknown)
    if before is None or now is None:
        missing = "the snapshot before the run" if before is None else "today's list"
        account.lines.append(f"sub-account {token} is not in {missing}: its balance proves nothing")
        account.broken = True
        return
    confirmed = [i for i in applied if i.token == token]
    moved = _sum(i.amount for i in confirmed)
    if direction == "add":
        seen = [now, *(i.subaccount_balance for i in confirmed if i.subaccount_balance is not None)]
        highest = max(seen)
        account.low = max(Decimal(0), highest - before - moved)
        account.lines.append(
            f"sub-account {token}: {before} before the run, {now} now, {highest} the highest "
            f"seen since; {moved} confirmed into it -> its unknown transfers ({pending}) "
            f"brought at least {account.low}"
        )
        if highest - before - moved > pending:
            account.lines.append(
                f"sub-account {token} rose by more than this run can explain: the assumption "
                "does not hold for it"
            )
            account.broken = True
    else:
        account.high = before - now - moved
        account.lines.append(
            f"sub-account {token}: {before} before the run, {now} now; {moved} confirmed out of "
            f"it -> its unknown transfers ({pending}) took at most {account.high}"
        )
        if account.high < 0:
            account.lines.append(
                f"sub-account {token} holds more than this run can explain: the assumption "
                "does not hold for it"
            )
            account.broken = True
    if len(account.unknown) > MAX_UNKNOWN_PER_SUBACCOUNT:
        account.lines.append(
            f"{len(account.unknown)} unknown transfers to one sub-account: too many "
            "combinations to weigh; left to a person"
        )
        account.broken = True


def _bound_main(
    direction: Direction,
    accounts: Mapping[str, _Account],
    unknown: Sequence[Item],
    applied: Sequence[Item],
    ledger: Ledger,
) -> tuple[list[str], Decimal, Decimal]:
    """Lines of evidence, and the bounds on what all unknown items together moved."""
    moved = _sum(i.amount for i in applied)
    pending = _sum(i.amount for i in unknown)
    if any(ledger.now.get(token) is None for token in accounts) or any(
        ledger.now.get(i.token) is None for i in applied
    ):
        # A deleted sub-account's credit may have gone back to the main account.
        return (
            ["a sub-account of the run is gone: the main account's balance proves nothing"],
            Decimal(0),
            _INF,
        )
    before, now = ledger.main_before, ledger.main_now
    if direction == "add":
        high = before - now - moved
        line = (
            f"main account: {before} before the run, {now} now; {moved} confirmed out of it -> "
            f"all unknown transfers together ({pending}) took at most {high}"
        )
        if high < 0:
            return (
                [line, "the main account holds more than this run can explain: it proves nothing"],
                Decimal(0),
                _INF,
            )
        return [line], Decimal(0), high
    seen = [now, *(i.account_balance for i in applied if i.account_balance is not None)]
    highest = max(seen)
    low = max(Decimal(0), highest - before - moved)
    line = (
        f"main account: {before} before the run, {now} now, {highest} the highest seen since; "
        f"{moved} confirmed into it -> all unknown transfers together ({pending}) brought at "
        f"least {low}"
    )
    if highest - before - moved > pending:
        return (
            [line, "the main account rose by more than this run can explain: it proves nothing"],
            Decimal(0),
            _INF,
        )
    return [line], low, _INF


def _decide(
    accounts: Mapping[str, _Account], low: Decimal, high: Decimal
) -> dict[int, tuple[SettlementVerdict, str]]:
    verdicts: dict[int, tuple[SettlementVerdict, str]] = {}
    usable: list[_Account] = []
    for account in accounts.values():
        if account.broken:
            for item in account.unknown:
                verdicts[item.index] = ("undecided", "undecided: the balances prove nothing here")
            continue
        n = len(account.unknown)
        for mask in range(1 << n):
            total = _sum(account.unknown[b].amount for b in range(n) if mask >> b & 1)
            if account.low <= total <= account.high:
                account.subsets.append((total, mask))
        usable.append(account)
    # A broken account's unknowns may have moved anything from none to all of them.
    slack_high = _sum(_sum(i.amount for i in a.unknown) for a in accounts.values() if a.broken)
    least = {a.token: min((s for s, _ in a.subsets), default=_INF) for a in usable}
    most = {a.token: max((s for s, _ in a.subsets), default=-_INF) for a in usable}
    for account in usable:
        if not account.subsets:  # pragma: no cover - excluded when the account is marked broken
            for item in account.unknown:
                verdicts[item.index] = ("undecided", "undecided: no combination fits")
            continue
        others_least = _sum(least[t] for t in least if t != account.token)
        others_most = _sum(most[t] for t in most if t != account.token) + slack_high
        for bit, item in enumerate(account.unknown):
            possible = {
                inside: any(
                    bool(mask >> bit & 1) == inside
                    and total + others_least <= high
                    and total + others_most >= low
                    for total, mask in account.subsets
                )
                for inside in (True, False)
            }
            verdicts[item.index] = _verdict(possible[True], possible[False])
    return verdicts


def _verdict(can_land: bool, can_miss: bool) -> tuple[SettlementVerdict, str]:
    if can_land and not can_miss:
        return "landed", "landed: every outcome the balances allow includes this transfer"
    if can_miss and not can_land:
        return "not_landed", "not landed: no outcome the balances allow includes this transfer"
    if can_land:
        return "undecided", "undecided: the balances allow it either way (spending can hide it)"
    return "undecided", "undecided: the balances contradict the assumption"
