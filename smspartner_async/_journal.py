"""A bulk run's durable journal: one SQLite file per run of one set of items.

Every item is in one state:

- ``pending``: never sent (or surely not applied: refused, or not sent before the run stopped);
- ``sending``: its intent is durable and its request may have left; no outcome yet;
- ``applied``: confirmed by the server, or settled as landed;
- ``failed``: surely not applied (refused, or settled as not landed): sent again on resume;
- ``unknown``: may have been applied; never sent again until settled.

A ``sending`` item found when the journal is opened again belonged to a run that stopped with
it in flight (the process died): it becomes ``unknown``. An intent is committed before its
request may leave; intents are grouped, one commit for every intent waiting at that moment,
and outcomes ride along with the next commit (an outcome lost in a crash only leaves its item
``sending``, hence ``unknown``: safe). Every SQLite call runs in a worker thread.

The file is locked for as long as a run (or a settlement) holds it: a second process that opens
it meanwhile gets a [`JournalError`][smspartner_async.JournalError] instead of a second run.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias, TypeVar, cast

import anyio
import anyio.to_thread
import attrs

from ._errors import ValidationError
from ._models import CreditTransfer
from ._settle import Direction, Item, Ledger, Settlement, settle

if TYPE_CHECKING:
    from ._client import AsyncSMSPartner

__all__ = [
    "BulkJournal",
    "JournalError",
    "JournalStatus",
    "Outcome",
    "RunLog",
    "Snapshot",
    "Work",
    "as_journal",
]

T = TypeVar("T")
ItemState: TypeAlias = Literal["pending", "sending", "applied", "failed", "unknown"]
Work: TypeAlias = list[tuple[str, Decimal]]
#: The balances before the run: the main account's, and each sub-account's by token.
Snapshot: TypeAlias = tuple[Decimal, dict[str, Decimal]]

_FORMAT = 1
_SCHEMA = """
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format INTEGER NOT NULL,
    direction TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    items INTEGER NOT NULL,
    total TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    main_before TEXT NOT NULL
);
CREATE TABLE item (
    idx INTEGER PRIMARY KEY,
    token TEXT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL,
    sends INTEGER NOT NULL DEFAULT 0,
    subaccount_balance TEXT,
    account_balance TEXT,
    currency TEXT,
    error TEXT,
    settled_by TEXT,
    evidence TEXT
);
CREATE TABLE snapshot (token TEXT PRIMARY KEY, balance TEXT NOT NULL);
"""


class JournalError(ValidationError):
    """A journal that cannot serve this call: another run's, finished, in use, or unreadable.

    Raised before anything is sent. ``field`` is ``"journal"``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, field="journal")


@attrs.frozen
class JournalStatus:
    """What a journal holds: its run's direction, size and where each item stands.

    ``applied``: confirmed (or settled as landed); ``to_send``: surely not applied, sent by
    the next call with this journal; ``to_settle``: may have been applied, never sent again
    until [`BulkJournal.settle`][smspartner_async.BulkJournal.settle] or
    [`BulkJournal.decide`][smspartner_async.BulkJournal.decide] says it did not land.
    ``finished_at`` is set once every item is applied: the journal then refuses further runs.
    """

    direction: Direction
    """Whether the run adds credit to the sub-accounts or removes it (``"add"``, ``"remove"``)."""
    items: int
    """How many items the run has."""
    total: Decimal
    """The sum of every item's amount."""
    applied: int
    """How many items are applied: confirmed, or settled as landed."""
    applied_amount: Decimal
    """The sum of the applied items' amounts."""
    to_send: int
    """How many items are surely not applied: the next call with this journal sends them."""
    to_settle: int
    """How many items may have been applied: never sent again until settled."""
    created_at: datetime
    """When the journal was created."""
    finished_at: datetime | None
    """When every item was applied (``None`` until then)."""

    @property
    def finished(self) -> bool:
        """Whether every item was applied; a finished journal takes no further run."""
        return self.finished_at is not None


@attrs.frozen
class Resumed:
    """An item whose outcome an earlier call with the journal already knows."""

    index: int
    state: Literal["applied", "unknown"]
    transfer: CreditTransfer | None
    error: str | None


def fingerprint(direction: Direction, work: Work) -> str:
    """A digest of what a run moves: its direction and every (token, amount), in order."""
    digest = hashlib.sha256(direction.encode())
    for token, amount in work:
        digest.update(f"\n{token} {_text(amount)}".encode())
    return digest.hexdigest()


def _is_path(value: object) -> bool:
    # Checked at run time: callers without a type checker pass anything.
    return isinstance(value, str | os.PathLike)


def _text(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class BulkJournal:
    """The durable record of one bulk run, in an SQLite file at ``path``.

    Pass it (or just a path) as ``journal=`` to
    [`bulk_add_credit`][smspartner_async.AsyncSubaccounts.bulk_add_credit] or
    [`bulk_remove_credit`][smspartner_async.AsyncSubaccounts.bulk_remove_credit]. The first call
    creates the file, reads every balance (a snapshot, for settlement), and records each item's
    intent before its request may leave and its outcome once known. If the process dies, call
    again with the same items and the same journal: items applied are not sent again, items
    surely not applied are, and items that may have been applied are reported ``unknown``
    until [`settle`][] (or a person, through [`decide`][]) says whether they landed.

    ```python
    journal = sp.BulkJournal("top-ups-2026-11.journal")
    report = await client.subaccounts.bulk_add_credit(items, journal=journal)
    if report.unknown:                       # after a crash, say
        for s in await journal.settle(client):
            print(s.token, s.amount, s.verdict, *s.evidence, sep="\\n  ")
    ```

    A journal belongs to one run of one set of items: another set (or direction) is refused
    with [`JournalError`][smspartner_async.JournalError], and so is any run once every item of
    its own was applied. Next month's run needs a new file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not _is_path(path):
            raise ValidationError(
                f"journal must be a path or a BulkJournal, not {type(path).__name__}",
                field="journal",
            )
        self._path = Path(path)

    def __repr__(self) -> str:
        # Also shown for a journal whose __init__ raised (a traceback's locals hold it).
        path = getattr(self, "_path", None)
        return f"BulkJournal({str(path)!r})"

    @property
    def path(self) -> Path:
        """Where the journal's file is."""
        return self._path

    def exists(self) -> bool:
        """Whether the file exists (a run may have started with it)."""
        return self._path.exists()

    async def status(self) -> JournalStatus | None:
        """Where the journal's run stands; ``None`` when no run has started with it."""
        return await _in_thread(self._status)

    async def settle(self, client: AsyncSMSPartner, *, record: bool = True) -> list[Settlement]:
        """Decide each ``unknown`` item from the balances; return one verdict per such item.

        Reads the main balance and every sub-account's balance now, and weighs them against the
        snapshot taken before the run and the balances applied transfers' answers returned,
        under the assumption the [guide](../guides/monthly-top-ups.md#settlement) states. With
        ``record``, ``landed`` items become applied and ``not_landed`` ones are sent by the next
        call; ``undecided`` ones wait for [`decide`][]. Call it only when none of the run's
        requests can still be on their way (a minute after the process died is plenty).
        """
        if await _in_thread(self._status) is None:
            raise JournalError(f"{self._path} records no run")
        main_now = (await client.account()).balance
        now = {sub.token: sub.credits.balance async for sub in client.subaccounts.list()}
        return await _in_thread(self._settle, main_now, now, record)

    async def decide(self, index: int, *, landed: bool, note: str = "") -> None:
        """Record a person's verdict on the ``unknown`` item at ``index`` (its input position).

        ``landed=True`` counts it applied; ``False`` makes the next call send it again.
        """
        await _in_thread(self._decide, index, landed, note)

    # -- inside worker threads ------------------------------------------------------------

    @contextmanager
    def _connect(self, *, create: bool = False) -> Generator[sqlite3.Connection]:
        if not create and not self._path.exists():
            raise JournalError(f"{self._path} does not exist")
        try:
            conn = sqlite3.connect(
                self._path, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open {self._path}: {exc}") from None
        try:
            try:
                # Exclusive: held from the first write until the connection closes, so no
                # second process can run or settle the same journal meanwhile.
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise JournalError(
                        f"{self._path} is in use by another run or settlement"
                    ) from None
                raise JournalError(f"cannot use {self._path}: {exc}") from None
            except sqlite3.DatabaseError as exc:
                raise JournalError(f"{self._path} is not a journal: {exc}") from None
            yield conn
        finally:
            conn.close()

    def _run_row(self, conn: sqlite3.Connection) -> tuple[object, ...] | None:
        try:
            row = conn.execute(
                "SELECT format, direction, fingerprint, items, total, created_at, finished_at,"
                " main_before FROM run"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            if "no such table" in str(exc):
                return None
            raise JournalError(f"{self._path} is not a journal: {exc}") from None
        if row is not None and row[0] != _FORMAT:
            raise JournalError(f"{self._path} has journal format {row[0]}, not {_FORMAT}")
        return cast("tuple[object, ...] | None", row)

    def _recover(self, conn: sqlite3.Connection) -> None:
        """Items left ``sending`` belong to a run that stopped with them in flight."""
        conn.execute(
            "UPDATE item SET state = 'unknown', error = ? WHERE state = 'sending'",
            ("the run stopped while it was in flight: it may have been applied",),
        )

    def _status(self) -> JournalStatus | None:
        if not self._path.exists():
            return None
        with self._connect() as conn:
            if self._run_row(conn) is None:
                return None
            self._recover(conn)
            return _status_of(conn)

    def open_run(self, direction: Direction, work: Work) -> RunLog:
        """Open the journal for a call: a new run, or the resume of its own run."""
        with ExitStack() as stack:
            conn = stack.enter_context(self._connect(create=True))
            row = self._run_row(conn)
            resumed: list[Resumed] = []
            if row is not None:
                _check_same_run(self._path, conn, row, direction, work)
                self._recover(conn)
                resumed = _resumed(conn)
            return RunLog(self, stack.pop_all(), conn, new=row is None, resumed=resumed)
        raise AssertionError("unreachable")  # pragma: no cover - ExitStack swallows nothing

    def _settle(self, main_now: Decimal, now: dict[str, Decimal], record: bool) -> list[Settlement]:
        with self._connect() as conn:
            row = self._run_row(conn)
            if row is None:  # pragma: no cover - checked just before, under no lock
                raise JournalError(f"{self._path} records no run")
            self._recover(conn)
            direction = cast("Direction", row[1])
            items = [
                Item(
                    index=idx,
                    token=token,
                    amount=Decimal(amount),
                    state="applied"
                    if state == "applied"
                    else "unknown"
                    if state == "unknown"
                    else "other",
                    subaccount_balance=None if sub is None else Decimal(sub),
                    account_balance=None if main is None else Decimal(main),
                )
                for idx, token, amount, state, sub, main in conn.execute(
                    "SELECT idx, token, amount, state, subaccount_balance, account_balance"
                    " FROM item ORDER BY idx"
                )
            ]
            before = {
                token: Decimal(balance)
                for token, balance in conn.execute("SELECT token, balance FROM snapshot")
            }
            ledger = Ledger(Decimal(cast("str", row[7])), main_now, before, now)
            verdicts = settle(direction, items, ledger)
            with _transaction(conn):
                for s in verdicts:
                    evidence = "\n".join(s.evidence)
                    if record and s.verdict != "undecided":
                        conn.execute(
                            "UPDATE item SET state = ?, settled_by = 'evidence', evidence = ?"
                            " WHERE idx = ?",
                            ("applied" if s.verdict == "landed" else "failed", evidence, s.index),
                        )
                    else:
                        conn.execute(
                            "UPDATE item SET evidence = ? WHERE idx = ?", (evidence, s.index)
                        )
                _mark_finished(conn)
            return verdicts

    def _decide(self, index: int, landed: bool, note: str) -> None:
        with self._connect() as conn:
            if self._run_row(conn) is None:
                raise JournalError(f"{self._path} records no run")
            self._recover(conn)
            row = conn.execute("SELECT state FROM item WHERE idx = ?", (index,)).fetchone()
            if row is None:
                raise JournalError(f"{self._path} has no item {index}")
            if row[0] != "unknown":
                raise JournalError(
                    f"item {index} is {row[0]}, not unknown: there is nothing to decide"
                )
            with _transaction(conn):
                conn.execute(
                    "UPDATE item SET state = ?, settled_by = 'person', evidence = ? WHERE idx = ?",
                    ("applied" if landed else "failed", note or None, index),
                )
                _mark_finished(conn)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Generator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _mark_finished(conn: sqlite3.Connection) -> None:
    conn.execute(
        "UPDATE run SET finished_at = ? WHERE finished_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM item WHERE state != 'applied')",
        (_now(),),
    )


def _status_of(conn: sqlite3.Connection) -> JournalStatus:
    direction, items, total, created, finished = conn.execute(
        "SELECT direction, items, total, created_at, finished_at FROM run"
    ).fetchone()
    counts = dict(conn.execute("SELECT state, COUNT(*) FROM item GROUP BY state").fetchall())
    applied_amount = _sum_amounts(conn, "applied")
    return JournalStatus(
        direction=direction,
        items=items,
        total=Decimal(total),
        applied=counts.get("applied", 0),
        applied_amount=applied_amount,
        to_send=counts.get("pending", 0) + counts.get("failed", 0),
        to_settle=counts.get("unknown", 0) + counts.get("sending", 0),
        created_at=datetime.fromisoformat(created),
        finished_at=None if finished is None else datetime.fromisoformat(finished),
    )


def _sum_amounts(conn: sqlite3.Connection, state: str) -> Decimal:
    rows = conn.execute("SELECT amount FROM item WHERE state = ?", (state,))
    return sum((Decimal(amount) for (amount,) in rows), Decimal(0))


def _check_same_run(
    path: Path, conn: sqlite3.Connection, row: tuple[object, ...], direction: Direction, work: Work
) -> None:
    _, recorded_direction, recorded_print, count, _, created, finished, _ = row
    if finished is not None:
        raise JournalError(
            f"{path} records a run that finished at {finished}: every item was applied. "
            "A new run needs a new journal"
        )
    if recorded_direction != direction:
        raise JournalError(
            f"{path} records a run that {'adds' if recorded_direction == 'add' else 'removes'}"
            " credit; this call does the opposite. A new run needs a new journal"
        )
    if recorded_print == fingerprint(direction, work):
        return
    where = f"it holds {count} items, this call {len(work)}"
    if count == len(work):
        rows = conn.execute("SELECT idx, token, amount FROM item ORDER BY idx")
        for idx, token, amount in cast("Iterator[tuple[int, str, str]]", rows):
            mine = work[idx]
            if (token, Decimal(amount)) != mine:
                where = (
                    f"item {idx} differs: it holds ({token}, {amount}), this call "
                    f"({mine[0]}, {_text(mine[1])})"
                )
                break
    raise JournalError(
        f"{path} records another run (started {created}): {where}. "
        "Resume with the same items, or start a new run with a new journal"
    )


def _resumed(conn: sqlite3.Connection) -> list[Resumed]:
    out: list[Resumed] = []
    for idx, state, sub, main, currency, error in conn.execute(
        "SELECT idx, state, subaccount_balance, account_balance, currency, error FROM item"
        " WHERE state IN ('applied', 'unknown') ORDER BY idx"
    ):
        transfer = None
        if sub is not None and main is not None and currency is not None:
            transfer = CreditTransfer(Decimal(main), Decimal(sub), currency)
        out.append(Resumed(idx, state, transfer, error))
    return out


#: One outcome to write: (index, state, transfer, error text, sent).
Outcome: TypeAlias = tuple[int, ItemState, CreditTransfer | None, str | None, bool]


@attrs.define
class _Batch:
    """Intents committed together; their workers wait on ``done``."""

    done: anyio.Event = attrs.field(factory=anyio.Event)
    error: JournalError | None = None


class RunLog:
    """A journal opened by one bulk call: its connection, and the group commit of intents."""

    def __init__(
        self,
        journal: BulkJournal,
        stack: ExitStack,
        conn: sqlite3.Connection,
        *,
        new: bool,
        resumed: list[Resumed],
    ) -> None:
        self.journal = journal
        self._stack = stack
        self._conn = conn
        self.new = new
        self.resumed = resumed
        self._lock = anyio.Lock()
        self._intents: list[int] = []
        self._outcomes: list[Outcome] = []
        self._batch = _Batch()
        self._wake = anyio.Event()

    def start(self, direction: Direction, work: Work, snapshot: Snapshot) -> None:
        """Write a new run: its items, all pending, and the balances before it."""
        main_before, balances = snapshot
        total = sum((amount for _, amount in work), Decimal(0))
        try:
            with _transaction(self._conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO run (id, format, direction, fingerprint, items, total,"
                    " created_at, main_before) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        _FORMAT,
                        direction,
                        fingerprint(direction, work),
                        len(work),
                        _text(total),
                        _now(),
                        str(main_before),
                    ),
                )
                self._conn.executemany(
                    "INSERT INTO item (idx, token, amount, state) VALUES (?, ?, ?, 'pending')",
                    [(idx, token, _text(amount)) for idx, (token, amount) in enumerate(work)],
                )
                tokens = {token for token, _ in work}
                self._conn.executemany(
                    "INSERT INTO snapshot (token, balance) VALUES (?, ?)",
                    [(t, str(b)) for t, b in balances.items() if t in tokens],
                )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write {self.journal.path}: {exc}") from None

    def close(self) -> None:
        """Close the connection, releasing the file's lock."""
        self._stack.close()

    async def intend(self, index: int) -> None:
        """Return once the intent to send item ``index`` is durable; JournalError if not."""
        batch = self._batch
        self._intents.append(index)
        self._wake.set()
        await batch.done.wait()
        if batch.error is not None:
            raise batch.error

    def outcome(self, outcome: Outcome) -> None:
        """Queue an outcome; it is written with the next commit."""
        self._outcomes.append(outcome)

    async def committer(self) -> None:
        """Commit waiting intents (and queued outcomes) in groups, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            batch, self._batch = self._batch, _Batch()
            intents, self._intents = self._intents, []
            try:
                await self._write(intents)
            except JournalError as exc:
                batch.error = exc
            batch.done.set()

    async def flush(self) -> None:
        """Write the outcomes still queued; mark the run finished if every item is applied."""
        await self._write([], finish=True)

    async def _write(self, intents: list[int], *, finish: bool = False) -> None:
        async with self._lock:
            outcomes, self._outcomes = self._outcomes, []
            try:
                await anyio.to_thread.run_sync(self._write_sync, intents, outcomes, finish)
            except JournalError:
                # Rolled back: the outcomes go with the next write (the intents do not: their
                # items are not sent).
                self._outcomes[:0] = outcomes
                raise

    def _write_sync(self, intents: list[int], outcomes: list[Outcome], finish: bool) -> None:
        conn = self._conn
        try:
            with _transaction(conn):
                if outcomes:
                    conn.executemany(
                        "UPDATE item SET state = ?, sends = sends + ?, subaccount_balance = ?,"
                        " account_balance = ?, currency = ?, error = ? WHERE idx = ?",
                        [
                            (
                                state,
                                int(sent),
                                None if t is None else str(t.subaccount_balance),
                                None if t is None else str(t.account_balance),
                                None if t is None else t.currency,
                                error,
                                index,
                            )
                            for index, state, t, error, sent in outcomes
                        ],
                    )
                if intents:
                    conn.executemany(
                        "UPDATE item SET state = 'sending' WHERE idx = ?",
                        [(i,) for i in intents],
                    )
                if finish:
                    _mark_finished(conn)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot write {self.journal.path}: {exc}") from None


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    return await anyio.to_thread.run_sync(function, *args)


def as_journal(value: object) -> BulkJournal:
    """``journal=`` as given: a [`BulkJournal`][] or a path to one."""
    if isinstance(value, BulkJournal):
        return value
    return BulkJournal(cast("str", value))
