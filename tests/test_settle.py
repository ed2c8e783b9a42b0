"""Settlement against scripted histories: a verdict is only ever what the balances prove.

Each history plays a run event by event: transfers that were confirmed, transfers whose answer
was lost (applied or not), and spending by the main account and the sub-accounts at any
moment. Settlement sees only what the API would show (the snapshot, the balances in confirmed
answers, the balances now) and must never contradict what really happened.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Literal

import attrs
import pytest

from smspartner_async._settle import Direction, Item, Ledger, Settlement, settle

Fate = Literal["confirmed", "landed", "lost"]  # lost: the answer was lost and it never applied


@attrs.define
class History:
    """Balances as a run goes, and what settlement will be shown."""

    direction: Direction
    main: Decimal
    subs: dict[str, Decimal]
    main_before: Decimal = Decimal(0)
    before: dict[str, Decimal] = attrs.field(factory=dict[str, Decimal])
    items: list[Item] = attrs.field(factory=list[Item])
    truth: dict[int, bool] = attrs.field(factory=dict[int, bool])

    def __attrs_post_init__(self) -> None:
        self.main_before = self.main
        self.before = dict(self.subs)

    def transfer(self, token: str, amount: str, fate: Fate) -> None:
        value = Decimal(amount)
        applied = fate != "lost"
        if applied:
            sign = 1 if self.direction == "add" else -1
            self.main -= sign * value
            self.subs[token] += sign * value
            assert self.main >= 0, "a history must be possible"
            assert self.subs[token] >= 0, "a history must be possible"
        index = len(self.items)
        self.truth[index] = applied
        if fate == "confirmed":
            item = Item(index, token, value, "applied", self.subs[token], self.main)
        else:
            item = Item(index, token, value, "unknown")
        self.items.append(item)

    def spend(self, token: str | None, amount: str) -> None:
        value = Decimal(amount)
        if token is None:
            self.main -= value
        else:
            self.subs[token] -= value

    def settle(self) -> dict[int, Settlement]:
        ledger = Ledger(self.main_before, self.main, self.before, dict(self.subs))
        verdicts = {s.index: s for s in settle(self.direction, self.items, ledger)}
        for index, s in verdicts.items():
            if s.verdict == "landed":
                assert self.truth[index], s
            if s.verdict == "not_landed":
                assert not self.truth[index], s
        return verdicts


def _verdicts(history: History) -> list[str]:
    return [s.verdict for s in history.settle().values()]


def test_nothing_unknown_nothing_to_settle() -> None:
    h = History("add", Decimal(100), {"a": Decimal(0)})
    h.transfer("a", "5", "confirmed")
    assert h.settle() == {}


def test_a_landed_transfer_shows_in_its_sub_account() -> None:
    h = History("add", Decimal(100), {"a": Decimal(10), "b": Decimal(10)})
    h.transfer("a", "5", "landed")
    h.transfer("b", "3", "confirmed")
    [s] = h.settle().values()
    assert s.verdict == "landed"
    assert "brought at least 5" in s.evidence[0]


def test_a_lost_transfer_shows_in_the_main_account() -> None:
    h = History("add", Decimal(100), {"a": Decimal(10)})
    h.transfer("a", "5", "lost")
    h.transfer("a", "3", "confirmed")
    h.spend("a", "2")
    assert _verdicts(h) == ["not_landed"]


def test_spending_can_hide_a_landed_transfer_so_it_stays_undecided() -> None:
    h = History("add", Decimal(100), {"a": Decimal(10)})
    h.transfer("a", "5", "landed")
    h.spend("a", "15")  # everything it had: its balance now shows nothing of the transfer
    [s] = h.settle().values()
    assert s.verdict == "undecided"
    assert "either way" in s.evidence[-1]


def test_a_confirmed_answer_remembers_a_balance_since_spent() -> None:
    h = History("add", Decimal(100), {"a": Decimal(10)})
    h.transfer("a", "5", "landed")
    h.transfer("a", "1", "confirmed")  # its answer shows 16 = 10 + 5 + 1
    h.spend("a", "16")
    [s] = h.settle().values()
    assert s.verdict == "landed"
    assert "16" in s.evidence[0]
    assert "highest" in s.evidence[0]


def test_main_account_spending_leaves_a_lost_transfer_undecided() -> None:
    h = History("add", Decimal(100), {"a": Decimal(10)})
    h.transfer("a", "5", "lost")
    h.spend(None, "5")  # the main account spent exactly what the transfer would have taken
    assert _verdicts(h) == ["undecided"]


def test_the_main_account_bounds_every_unknown_together() -> None:
    h = History("add", Decimal(100), {"a": Decimal(0), "b": Decimal(0)})
    h.transfer("a", "5", "landed")
    h.transfer("b", "5", "lost")
    h.spend("a", "5")
    # 5 left the main account: one of the two, and a's balance no longer says which.
    assert _verdicts(h) == ["undecided", "undecided"]
    h2 = History("add", Decimal(100), {"a": Decimal(0), "b": Decimal(0)})
    h2.transfer("a", "5", "landed")
    h2.transfer("b", "7", "lost")
    h2.spend("a", "5")
    # Only 5 left the main account: b's 7 cannot have; a's 5 may have, or the main account
    # may have spent it.
    assert _verdicts(h2) == ["undecided", "not_landed"]


def test_identical_unknowns_to_one_sub_account_stay_undecided() -> None:
    h = History("add", Decimal(100), {"a": Decimal(0)})
    h.transfer("a", "5", "landed")
    h.transfer("a", "5", "lost")
    assert _verdicts(h) == ["undecided", "undecided"]


def test_credit_from_elsewhere_breaks_the_assumption_and_nothing_is_claimed() -> None:
    h = History("add", Decimal(100), {"a": Decimal(0)})
    h.transfer("a", "5", "lost")
    h.subs["a"] += Decimal(50)  # someone else topped it up
    [s] = h.settle().values()
    assert s.verdict == "undecided"
    assert any("more than this run can explain" in line for line in s.evidence)


def test_a_purchase_on_the_main_account_breaks_its_bound() -> None:
    h = History("add", Decimal(100), {"a": Decimal(0)})
    h.transfer("a", "5", "lost")
    h.main += Decimal(50)  # credit bought during the run
    [s] = h.settle().values()
    assert s.verdict == "undecided"
    assert any("main account holds more" in line for line in s.evidence)


def test_a_sub_account_gone_proves_nothing() -> None:
    h = History("add", Decimal(100), {"a": Decimal(0), "b": Decimal(0)})
    h.transfer("a", "5", "lost")
    h.transfer("b", "5", "landed")
    del h.subs["b"]
    ledger = Ledger(h.main_before, h.main, h.before, dict(h.subs))
    verdicts = settle("add", h.items, ledger)
    assert [s.verdict for s in verdicts] == ["undecided", "undecided"]
    assert any("not in today's list" in line for line in verdicts[1].evidence)
    assert any("is gone" in line for line in verdicts[0].evidence)
    missing = Ledger(h.main_before, h.main, {}, h.subs)
    assert "snapshot" in settle("add", h.items[:1], missing)[0].evidence[0]


def test_remove_a_sub_account_that_did_not_fall_enough_was_not_taken_from() -> None:
    h = History("remove", Decimal(100), {"a": Decimal(20), "b": Decimal(20)})
    h.transfer("a", "5", "lost")
    h.transfer("b", "5", "landed")
    h.spend("a", "3")
    h.spend(None, "10")
    # a fell by 3 only: 5 cannot have left it. The main account spent, so it hides b's.
    assert _verdicts(h) == ["not_landed", "undecided"]


def test_remove_the_main_account_shows_what_arrived() -> None:
    h = History("remove", Decimal(100), {"a": Decimal(20)})
    h.transfer("a", "5", "landed")
    h.transfer("a", "2", "confirmed")
    h.spend("a", "10")
    [s] = h.settle().values()
    assert s.verdict == "landed"
    h2 = History("remove", Decimal(100), {"a": Decimal(20)})
    h2.transfer("a", "5", "landed")
    h2.main += 100
    assert _verdicts(h2) == ["undecided"]
    h3 = History("remove", Decimal(100), {"a": Decimal(20)})
    h3.transfer("a", "5", "lost")
    h3.subs["a"] += 10
    assert _verdicts(h3) == ["undecided"]


def test_too_many_unknowns_for_one_sub_account_are_left_to_a_person() -> None:
    h = History("add", Decimal(1000), {"a": Decimal(0)})
    for _ in range(17):
        h.transfer("a", "1", "landed")
    assert set(_verdicts(h)) == {"undecided"}


@pytest.mark.parametrize("direction", ["add", "remove"])
def test_random_histories_are_never_contradicted(direction: Direction) -> None:
    rng = random.Random(f"settle:{direction}")
    decided = 0
    for _ in range(400):
        tokens = [f"t{i}" for i in range(rng.randint(1, 4))]
        h = History(
            direction,
            Decimal(rng.randint(50, 200)),
            {t: Decimal(rng.randint(0, 40)) for t in tokens},
        )
        for _ in range(rng.randint(1, 10)):
            token = rng.choice(tokens)
            if rng.random() < 0.3:
                who = rng.choice([None, token])
                balance = h.main if who is None else h.subs[token]
                if balance > 0:
                    h.spend(who, str(rng.randint(0, int(balance))))
                continue
            amount = Decimal(rng.choice(["1", "2", "2.5", "5", "7"]))
            source = h.main if direction == "add" else h.subs[token]
            fate: Fate = rng.choice(["confirmed", "landed", "lost"])
            if amount > source:
                fate = "lost"
            h.transfer(token, str(amount), fate)
        decided += sum(v != "undecided" for v in _verdicts(h))
    assert decided > 50  # the rules do decide, not only abstain
