"""Journaled bulk runs: intent before sending, resume after a stop, one journal per run.

The real crash (SIGKILL of the CLI against a served emulator) is in ``test_bulk_crash.py``;
here a crash is the state it leaves behind: items whose intent is on disk and no outcome.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

import smspartner_async as sp
from smspartner_async.testing import Emulator, Fault

pytestmark = pytest.mark.anyio

ADD = "subaccount/credit/add"
ONCE = sp.RetryPolicy(max_attempts=1)


def _credits(emu: Emulator) -> list[tuple[str, Decimal]]:
    """(token, amount) of every credit request the emulator received."""
    out: list[tuple[str, Decimal]] = []
    for r in emu.requests:
        if r.endpoint == ADD or r.endpoint == "subaccount/credit/remove":
            assert isinstance(r.json, dict)
            out.append((r.json["tokenSubaccount"], Decimal(str(r.json["credit"]))))
    return out


def _paid(emu: Emulator) -> Counter[tuple[str, Decimal]]:
    return Counter((t.token, t.amount) for t in emu.transfers if t.operation != "seed")


@contextmanager
def _sql(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to a journal's file, closed after use (an open one would hold the
    file, as a run does)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        yield conn


def _states(path: Path) -> list[str]:
    with _sql(path) as conn:
        return [state for (state,) in conn.execute("SELECT state FROM item ORDER BY idx")]


async def test_a_journaled_run_records_every_item_and_then_refuses_to_run_again(
    tmp_path: Path,
) -> None:
    emu = Emulator(main_balance="100")
    a, b = emu.seed_subaccounts(2, balance=1)
    path = tmp_path / "run.journal"
    items = [(a, "5"), (b, "2.5"), (a, "1")]
    async with emu.client(retry=ONCE) as client:
        report = await client.subaccounts.bulk_add_credit(items, journal=path)
        assert report.ok
        assert not any(r.from_journal for r in report.results)
        assert _states(path) == ["applied"] * 3
        status = await sp.BulkJournal(path).status()
        assert status is not None
        assert (status.direction, status.items, status.total) == ("add", 3, Decimal("8.5"))
        assert (status.applied, status.to_send, status.to_settle) == (3, 0, 0)
        assert status.applied_amount == Decimal("8.5")
        assert status.finished

        sent = len(emu.requests)
        # The same items with the same journal: a finished run is never run again by accident.
        with pytest.raises(sp.JournalError, match="finished") as caught:
            await client.subaccounts.bulk_add_credit(items, journal=sp.BulkJournal(path))
        assert caught.value.field == "journal"
        assert len(emu.requests) == sent
    assert _paid(emu) == Counter({(a, Decimal(5)): 1, (b, Decimal("2.5")): 1, (a, Decimal(1)): 1})


async def test_the_snapshot_is_taken_before_the_first_transfer(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    tokens = emu.seed_subaccounts(45, balance=1)  # three pages
    async with emu.client() as client:
        await client.subaccounts.bulk_add_credit({tokens[0]: 1}, journal=tmp_path / "j")
    endpoints = [r.endpoint for r in emu.requests]
    first_move = endpoints.index(ADD)
    assert endpoints[:first_move].count("me") == 1
    assert endpoints[:first_move].count("subaccount/list") == 3
    with _sql(tmp_path / "j") as conn:
        # Only the run's sub-accounts are kept, at their balance before the run.
        assert conn.execute("SELECT token, balance FROM snapshot").fetchall() == [
            (tokens[0], "1.000")
        ]
        assert conn.execute("SELECT main_before FROM run").fetchone() == ("55.000",)


async def test_resume_sends_only_what_surely_was_not_applied(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    a, b, c, d = emu.seed_subaccounts(4)
    path = tmp_path / "run.journal"
    items = [(a, "1"), (b, "2"), (c, "3"), (d, "4")]
    async with emu.client(retry=ONCE, timeout=0.5) as client:
        emu.inject(Fault.status(429), endpoint=ADD)  # refused before acting: surely not applied
        emu.inject(Fault.apply_then_drop(), endpoint=ADD)  # applied, answer lost: unknown
        first = await client.subaccounts.bulk_add_credit(items, journal=path, concurrency=1)
        assert [r.status for r in first.results] == ["failed", "unknown", "applied", "applied"]
        assert _states(path) == ["failed", "unknown", "applied", "applied"]

        second = await client.subaccounts.bulk_add_credit(items, journal=path, concurrency=4)
    assert [r.status for r in second.results] == ["applied", "unknown", "applied", "applied"]
    assert [r.from_journal for r in second.results] == [False, True, True, True]
    unknown = second.results[1]
    assert isinstance(unknown.error, sp.OutcomeUnknownError)
    assert "settle" in str(unknown.error)
    assert second.results[2].transfer is not None  # the earlier answer's balances, kept
    assert second.results[2].transfer.subaccount_balance == Decimal(3)
    # Sent: all four, then only the refused one again. The unknown one is never re-sent.
    assert _credits(emu) == [(a, 1), (b, 2), (c, 3), (d, 4), (a, 1)]
    assert _paid(emu) == Counter({(a, 1): 1, (b, 2): 1, (c, 3): 1, (d, 4): 1})
    status = await sp.BulkJournal(path).status()
    assert status is not None
    assert (status.applied, status.to_send, status.to_settle, status.finished) == (3, 0, 1, False)


async def test_items_in_flight_when_the_process_died_are_never_re_sent(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    a, b = emu.seed_subaccounts(2)
    path = tmp_path / "run.journal"
    items = [(a, "1"), (b, "2")]
    async with emu.client() as client:
        await client.subaccounts.bulk_add_credit(items, journal=path)
        # What a SIGKILL leaves: intents on disk, outcomes not yet written.
        with _sql(path) as conn:
            conn.execute("UPDATE item SET state = 'sending'")
            conn.execute("UPDATE run SET finished_at = NULL")
        status = await sp.BulkJournal(path).status()
        assert status is not None
        assert (status.applied, status.to_send, status.to_settle) == (0, 0, 2)
        sent = len(emu.requests)
        report = await client.subaccounts.bulk_add_credit(items, journal=path)
    assert len(emu.requests) == sent
    assert [r.status for r in report.results] == ["unknown", "unknown"]
    assert all("in flight" in str(r.error) for r in report.results)


async def test_a_journal_refuses_another_set_of_items_or_direction(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    a, b = emu.seed_subaccounts(2, balance=5)
    path = tmp_path / "run.journal"
    async with emu.client(retry=ONCE) as client:
        emu.inject(Fault.status(429), endpoint=ADD)
        await client.subaccounts.bulk_add_credit([(a, 1), (b, 2)], journal=path, concurrency=1)
        sent = len(emu.requests)
        subs = client.subaccounts
        with pytest.raises(sp.JournalError, match=r"item 1 differs: it holds \(.*, 2\)"):
            await subs.bulk_add_credit([(a, 1), (b, "2.5")], journal=path)
        with pytest.raises(sp.JournalError, match="it holds 2 items, this call 1"):
            await subs.bulk_add_credit([(a, 1)], journal=path)
        with pytest.raises(sp.JournalError, match="the opposite"):
            await subs.bulk_remove_credit([(a, 1), (b, 2)], journal=path)
        assert len(emu.requests) == sent
        # Amounts are compared as numbers: "1.00" is the item "1".
        report = await subs.bulk_add_credit([(a, "1.00"), (b, 2)], journal=path)
    assert [r.from_journal for r in report.results] == [False, True]
    assert report.ok


async def test_an_unusable_journal_refuses_before_anything_is_sent(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    [a] = emu.seed_subaccounts(1)
    not_a_journal = tmp_path / "notes.txt"
    not_a_journal.write_text("hello, this is not SQLite" * 100)
    async with emu.client() as client:
        with pytest.raises(sp.JournalError, match=r"cannot open|not a journal"):
            await client.subaccounts.bulk_add_credit({a: 1}, journal=tmp_path / "no" / "dir")
        with pytest.raises(sp.JournalError, match="not a journal"):
            await client.subaccounts.bulk_add_credit({a: 1}, journal=not_a_journal)
        with pytest.raises(sp.ValidationError, match="journal must be a path"):
            await client.subaccounts.bulk_add_credit({a: 1}, journal=42)  # type: ignore[arg-type]
    assert emu.requests == []


async def test_a_journal_in_use_is_refused(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    a, b = emu.seed_subaccounts(2)
    path = tmp_path / "run.journal"
    emu.inject(Fault.apply_then_stall(60), endpoint=ADD)  # holds the first run mid-transfer
    async with emu.client(timeout=60) as client, anyio.create_task_group() as tg:
        tg.start_soon(lambda: client.subaccounts.bulk_add_credit({a: 1}, journal=path))
        while not any(r.endpoint == ADD for r in emu.requests):
            await anyio.sleep(0.01)
        with pytest.raises(sp.JournalError, match="in use"):
            await client.subaccounts.bulk_add_credit({b: 1}, journal=path)
        with pytest.raises(sp.JournalError, match="in use"):
            await sp.BulkJournal(path).status()
        tg.cancel_scope.cancel()
    assert _paid(emu) == Counter({(a, Decimal(1)): 1})
    assert _states(path) == ["unknown"]


async def test_a_failed_snapshot_sends_nothing_and_leaves_the_journal_new(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    [a] = emu.seed_subaccounts(1)
    path = tmp_path / "run.journal"
    async with emu.client(retry=ONCE) as client:
        emu.inject(Fault.status(503), endpoint="subaccount/list")
        with pytest.raises(sp.ServerError):
            await client.subaccounts.bulk_add_credit({a: 1}, journal=path)
        assert _credits(emu) == []
        assert await sp.BulkJournal(path).status() is None
        report = await client.subaccounts.bulk_add_credit({a: 1}, journal=path)
    assert report.ok


async def test_cancelled_run_records_in_flight_items_as_unknown(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    tokens = emu.seed_subaccounts(4)
    path = tmp_path / "run.journal"
    items = [(t, 1) for t in tokens]
    emu.inject(Fault.apply_then_stall(30), endpoint=ADD, times=2)
    async with emu.client() as client:
        with anyio.move_on_after(0.3):
            await client.subaccounts.bulk_add_credit(items, journal=path, concurrency=2)
        assert sorted(_states(path)) == ["pending", "pending", "unknown", "unknown"]
        emu.reset_faults()
        report = await client.subaccounts.bulk_add_credit(items, journal=path, concurrency=2)
    assert [r.status for r in report.results] == ["unknown", "unknown", "applied", "applied"]
    assert _paid(emu) == Counter((t, Decimal(1)) for t in tokens)


async def test_settlement_decides_from_the_balances_and_resume_sends_what_did_not_land(
    tmp_path: Path,
) -> None:
    emu = Emulator(main_balance="100")
    a, b, c = emu.seed_subaccounts(3, balance=10)
    path = tmp_path / "run.journal"
    items = [(a, "5"), (b, "7"), (c, "1")]
    journal = sp.BulkJournal(path)
    async with emu.client(retry=ONCE) as client:
        emu.inject(Fault.apply_then_drop(), endpoint=ADD)  # a: landed, answer lost
        emu.inject(Fault.status(503), endpoint=ADD)  # b: not applied, but the client can't know
        first = await client.subaccounts.bulk_add_credit(items, journal=journal, concurrency=1)
        assert [r.status for r in first.results] == ["unknown", "unknown", "applied"]

        verdicts = await journal.settle(client)
        assert [(s.index, s.verdict) for s in verdicts] == [(0, "landed"), (1, "not_landed")]
        assert any("brought at least 5" in line for line in verdicts[0].evidence)
        assert any("took at most 5" in line for line in verdicts[1].evidence)

        resumed = await client.subaccounts.bulk_add_credit(items, journal=journal)
        assert resumed.ok
        assert [r.from_journal for r in resumed.results] == [True, False, True]
        status = await journal.status()
        assert status is not None
        assert status.finished
    assert _paid(emu) == Counter({(a, Decimal(5)): 1, (b, Decimal(7)): 1, (c, Decimal(1)): 1})


async def test_undecided_items_wait_for_a_person(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    [a] = emu.seed_subaccounts(1, balance=10)
    path = tmp_path / "run.journal"
    items = [(a, "5"), (a, "5")]
    journal = sp.BulkJournal(path)
    async with emu.client(retry=ONCE) as client:
        # Two answers lost, one transfer applied: the balances show that 5 arrived, not which
        # of the two identical transfers brought it.
        emu.inject(Fault.apply_then_drop(), endpoint=ADD)
        emu.inject(Fault.status(503), endpoint=ADD)
        await client.subaccounts.bulk_add_credit(items, journal=journal, concurrency=1)
        verdicts = await journal.settle(client)
        assert [s.verdict for s in verdicts] == ["undecided", "undecided"]
        assert "either way" in verdicts[0].evidence[-1]
        with pytest.raises(sp.JournalError, match="no item 5"):
            await journal.decide(5, landed=True)
        await journal.decide(0, landed=True, note="the statement shows one")
        await journal.decide(1, landed=False)
        with pytest.raises(sp.JournalError, match="applied, not unknown"):
            await journal.decide(0, landed=True)
        report = await client.subaccounts.bulk_add_credit(items, journal=journal)
    assert report.ok
    assert [r.from_journal for r in report.results] == [True, False]
    assert [t.token for t in emu.transfers if t.operation == ADD] == [a, a]
    assert emu.balance(a) == 20


async def test_a_journal_that_cannot_be_written_stops_the_run(tmp_path: Path) -> None:
    emu = Emulator(main_balance="100")
    tokens = emu.seed_subaccounts(4)
    path = tmp_path / "run.journal"
    items = [(t, 1) for t in tokens]
    async with emu.client(retry=ONCE) as client:
        emu.inject(Fault.status(429), endpoint=ADD, times=4)
        await client.subaccounts.bulk_add_credit(items, journal=path, concurrency=1)
        # The disk refuses the third intent (a trigger stands in for a full disk).
        with _sql(path) as conn:
            conn.execute(
                "CREATE TRIGGER full BEFORE UPDATE ON item"
                " WHEN NEW.state = 'sending' AND NEW.idx = 2"
                " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        report = await client.subaccounts.bulk_add_credit(items, journal=path, concurrency=1)
    assert [r.status for r in report.results] == ["applied", "applied", "failed", "failed"]
    assert [r.sent for r in report.results] == [True, True, False, False]
    assert all(isinstance(r.error, sp.JournalError) for r in report.results[2:])
    assert "disk is full" in str(report.results[2].error)
    assert _credits(emu)[4:] == [(tokens[0], 1), (tokens[1], 1)]  # nothing left unjournaled
    assert _states(path) == ["applied", "applied", "pending", "pending"]


async def test_journal_without_a_run(tmp_path: Path) -> None:
    journal = sp.BulkJournal(tmp_path / "new.journal")
    assert repr(journal) == f"BulkJournal({str(tmp_path / 'new.journal')!r})"
    assert journal.path == tmp_path / "new.journal"
    assert not journal.exists()
    assert await journal.status() is None
    emu = Emulator()
    async with emu.client() as client:
        with pytest.raises(sp.JournalError, match="records no run"):
            await journal.settle(client)
        with pytest.raises(sp.JournalError, match="does not exist"):
            await journal.decide(0, landed=True)
        # An empty file (a first call that stopped at its snapshot) holds no run either.
        journal.path.touch()
        assert await journal.status() is None
        with pytest.raises(sp.JournalError, match="records no run"):
            await journal.settle(client)
        with pytest.raises(sp.JournalError, match="records no run"):
            await journal.decide(0, landed=True)
    assert [r.endpoint for r in emu.requests] == []
