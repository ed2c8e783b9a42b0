"""The bulk soak: thousands of transfers under every fault the emulator has, and the books balance.

Every item's amount is distinct (1.000, 1.001, ...), so each transfer in the emulator's log
names exactly one item: we can tell, item by item, whether the emulator applied it, and how
many times.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Literal

import pytest

import smspartner_async as sp
from smspartner_async.testing import Emulator, Fault, served

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff")]

Operation = Literal["add", "remove"]
ENDPOINT = {"add": "subaccount/credit/add", "remove": "subaccount/credit/remove"}

#: Every fault the emulator has, each about as likely as the others.
ALL_FAULTS = (
    Fault.status(503),
    Fault.status(429, retry_after=0),  # retried: the server refused before doing anything
    Fault.status(429, retry_after=120),  # beyond the 60 s ceiling: raised, never slept through
    Fault.html(502),
    Fault.drop(),
    Fault.refuse(),  # retried in-process (connection refused); a drop when served
    Fault.apply_then_drop(),
    Fault.apply_then_stall(30),  # past the client's timeout: applied, answer never seen
)


def _items(tokens: list[str], n: int) -> list[tuple[str, Decimal]]:
    # 1.000, 1.001, ... : every amount distinct, with 3 decimals.
    return [(tokens[(i * 7) % len(tokens)], Decimal(1000 + i) / 1000) for i in range(n)]


def _check_books(
    emu: Emulator,
    op: Operation,
    items: list[tuple[str, Decimal]],
    report: sp.BulkReport,
    before: dict[str, Decimal],
    total_before: Decimal,
) -> None:
    """Every invariant the issue names, item by item and token by token."""
    # Every item has exactly one outcome, in input order.
    assert [(r.token, r.amount) for r in report.results] == items
    assert len(report.applied) + len(report.failed) + len(report.unknown) == len(items)
    for r in report.applied:
        assert r.transfer is not None
        assert r.error is None
    for r in report.failed:
        assert isinstance(r.error, sp.SMSPartnerError)
        assert not isinstance(r.error, sp.OutcomeUnknownError)
        assert r.transfer is None
    for r in report.unknown:
        assert isinstance(r.error, sp.OutcomeUnknownError)
        assert r.transfer is None
    assert all(r.sent for r in report.results)  # no early stop in a soak

    # Each logged transfer belongs to exactly one item (amounts are distinct).
    by_amount = {amount: token for token, amount in items}
    moved = [t for t in emu.transfers if t.operation == ENDPOINT[op]]
    assert all(by_amount.get(t.amount) == t.token for t in moved), "a transfer nobody asked for"
    applied_times = Counter(t.amount for t in moved)
    # Nothing applied twice; applied items applied once; failed items never.
    assert max(applied_times.values(), default=0) <= 1
    for r in report.applied:
        assert applied_times[r.amount] == 1, r
    for r in report.failed:
        assert applied_times[r.amount] == 0, r

    # Per token: the ledger moved by the applied sum plus a subset of the unknown amounts.
    applied_sum: dict[str, Decimal] = defaultdict(Decimal)
    unknown_sum: dict[str, Decimal] = defaultdict(Decimal)
    unknown_landed: dict[str, Decimal] = defaultdict(Decimal)
    for r in report.applied:
        applied_sum[r.token] += r.amount
    for r in report.unknown:
        unknown_sum[r.token] += r.amount
        if applied_times[r.amount]:
            unknown_landed[r.token] += r.amount
    sign = 1 if op == "add" else -1
    for token, balance in before.items():
        delta = sign * (emu.balance(token) - balance)
        assert applied_sum[token] <= delta <= applied_sum[token] + unknown_sum[token]
        assert delta == applied_sum[token] + unknown_landed[token]
    assert emu.total_money() == total_before


def _fault_kinds(emu: Emulator) -> set[tuple[str, int | None]]:
    return {(r.fault.kind, r.fault.status_code) for r in emu.requests if r.fault is not None}


@pytest.fixture
def soak_emulator() -> Emulator:
    return Emulator(main_balance="1000000", seed=4)


# The soak is 2,000 top-ups; the withdrawal variant runs the same code path, so half
# as many keep the suite quick.
@pytest.mark.parametrize(("op", "n"), [("add", 2000), ("remove", 1000)])
async def test_soak_in_process(op: Operation, n: int, soak_emulator: Emulator) -> None:
    emu = soak_emulator
    if op == "add":
        tokens = emu.seed_subaccounts(300)
    else:
        # 290 sub-accounts hold enough for all their withdrawals; 10 run dry after one or two.
        tokens = emu.seed_subaccounts(290, balance="25") + emu.seed_subaccounts(10, balance="3")
    items = _items(tokens, n)
    before = {t: emu.balance(t) for t in tokens}
    total_before = emu.total_money()
    emu.inject_randomly(0.1, faults=ALL_FAULTS, endpoint=ENDPOINT[op])

    retry = sp.RetryPolicy(max_attempts=3)
    started = time.perf_counter()
    async with emu.client(timeout=1.0, retry=retry) as client:
        bulk = (
            client.subaccounts.bulk_add_credit
            if op == "add"
            else client.subaccounts.bulk_remove_credit
        )
        report = await bulk(items, concurrency=64)
    elapsed = time.perf_counter() - started
    print(
        f"\nsoak {op}: {len(report.applied)} applied, {len(report.failed)} failed, "
        f"{len(report.unknown)} unknown, {len(emu.requests)} requests, {elapsed:.1f} s"
    )

    _check_books(emu, op, items, report, before, total_before)
    # The soak exercised what it claims to.
    assert _fault_kinds(emu) == {(f.kind, f.status_code) for f in ALL_FAULTS}
    assert len(report.applied) > 0.75 * n
    assert len(report.unknown) > 0.025 * n
    assert any(isinstance(r.error, sp.RateLimitError) for r in report.failed)
    if op == "remove":
        assert any(isinstance(r.error, sp.InsufficientCreditError) for r in report.failed)


async def test_soak_served(soak_emulator: Emulator) -> None:
    """The same books over real sockets: the transport's own error mapping under faults.

    Smaller than the in-process soak: the served emulator shares the GIL with the client.
    """
    emu = soak_emulator
    tokens = emu.seed_subaccounts(100)
    items = _items(tokens, 200)
    before = {t: emu.balance(t) for t in tokens}
    total_before = emu.total_money()
    faults = (*(f for f in ALL_FAULTS if f.kind != "apply_then_stall"), Fault.apply_then_stall(3))
    emu.inject_randomly(0.1, faults=faults, endpoint=ENDPOINT["add"])
    async with (
        served(emu) as base_url,
        sp.AsyncSMSPartner(
            api_key=emu.api_key,
            base_url=base_url,
            timeout=1.0,
            retry=sp.RetryPolicy(max_attempts=3),
        ) as client,
    ):
        report = await client.subaccounts.bulk_add_credit(items, concurrency=32)
    _check_books(emu, "add", items, report, before, total_before)
    assert report.unknown
