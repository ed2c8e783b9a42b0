"""Bulk credit moves: many transfers, bounded concurrency, and an outcome for every one.

Every item ends in exactly one of three states:

- ``applied``: the server confirmed the transfer (``.transfer`` holds the balances after it);
- ``failed``: surely not applied (``.error`` says why: a refusal, or a request never sent);
- ``unknown``: may have been applied (``.error`` is an :class:`OutcomeUnknownError`).

Nothing is sent twice by this module: each item is one call of the client's single-transfer
method, whose retry rules never repeat a request the server may have acted on. With a journal
(``_journal.py``), each item's intent is on disk before its request may leave, so a later call
can resume the run without sending twice what an earlier process may have sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Literal, TypeAlias, cast

import anyio
import anyio.lowlevel
import attrs

from ._errors import (
    AuthenticationError,
    NotSentError,
    OutcomeUnknownError,
    SMSPartnerError,
    ValidationError,
)
from ._journal import BulkJournal, JournalError, Outcome, RunLog, Snapshot, as_journal
from ._models import CreditTransfer
from ._money import Amount, format_money, parse_amount
from ._settle import Direction
from ._validation import check_positive_int, check_token

__all__ = [
    "BulkItems",
    "BulkReport",
    "BulkResult",
    "BulkStatus",
    "JournalArg",
    "ProgressCallback",
    "ResultCallback",
    "run_bulk",
]

logger = logging.getLogger("smspartner_async")

BulkStatus: TypeAlias = Literal["applied", "failed", "unknown"]
"""Where a bulk item ended: ``"applied"`` (confirmed), ``"failed"`` (surely not applied) or
``"unknown"`` (may have been applied: check before retrying it)."""
#: token -> amount, or (token, amount) pairs; a token may repeat in pairs (one transfer each).
BulkItems: TypeAlias = Mapping[str, Amount] | Iterable[tuple[str, Amount]]
Move: TypeAlias = Callable[[str, Decimal], Awaitable[CreditTransfer]]
#: ``on_progress(done, total)``: a plain callable, called after each item.
ProgressCallback: TypeAlias = Callable[[int, int], object]
#: ``journal=``: a [`BulkJournal`][smspartner_async.BulkJournal], or the path of its file.
JournalArg: TypeAlias = BulkJournal | str | os.PathLike[str]
TakeSnapshot: TypeAlias = Callable[[], Awaitable[Snapshot]]


@attrs.frozen
class BulkResult:
    """The outcome of one item of a bulk operation.

    ```python
    for result in report.failed:
        print(result.token, result.amount, result.error)
    ```
    """

    token: str
    """The item's sub-account token, as given."""
    amount: Decimal
    """The item's amount, as given, as a ``Decimal``."""
    status: BulkStatus
    """Where the item ended: ``"applied"``, ``"failed"`` or ``"unknown"``."""
    transfer: CreditTransfer | None = None
    """The balances after it, when it was applied."""
    error: SMSPartnerError | None = None
    """Why it was not applied: an [`OutcomeUnknownError`][] for an ``"unknown"`` item."""
    sent: bool = True
    """``False`` for an item that never left because the run stopped early (the API key was
    refused, the journal could not be written, the call was cancelled before its turn, or the
    client was closed while it waited for a connection)."""
    from_journal: bool = False
    """``True`` for an outcome an earlier call with the same
    [`BulkJournal`][smspartner_async.BulkJournal] already knew: an item applied then, or one
    still waiting for settlement (``"unknown"``); neither was sent by this call."""


#: ``on_result(result)``: a plain callable, called with each item's outcome as it lands.
ResultCallback: TypeAlias = Callable[[BulkResult], object]


@attrs.frozen
class BulkReport:
    """Every item's outcome of a bulk call, in input order.

    ```pycon
    >>> report = await client.subaccounts.bulk_add_credit({"tok1": 5, "tok2": 5})
    >>> report.ok, len(report.applied), report.applied_amount
    (True, 2, Decimal('10'))
    >>> print(report.summary())
    2 items: 2 applied (10.000 EUR), 0 failed, 0 unknown (0.000 EUR may have moved)
    ```
    """

    results: list[BulkResult]
    """Every item's outcome, in the order the items were given."""

    @property
    def applied(self) -> list[BulkResult]:
        """Items the server confirmed."""
        return self._with("applied")

    @property
    def failed(self) -> list[BulkResult]:
        """Items surely not applied."""
        return self._with("failed")

    @property
    def unknown(self) -> list[BulkResult]:
        """Items that may or may not have been applied: check before retrying them."""
        return self._with("unknown")

    @property
    def ok(self) -> bool:
        """True when every item was applied."""
        return all(r.status == "applied" for r in self.results)

    @property
    def applied_amount(self) -> Decimal:
        """The euros surely moved: the sum of the applied items."""
        return sum((r.amount for r in self.results if r.status == "applied"), Decimal(0))

    @property
    def unknown_amount(self) -> Decimal:
        """The euros that may have moved on top of [`applied_amount`][]."""
        return sum((r.amount for r in self.results if r.status == "unknown"), Decimal(0))

    def _with(self, status: BulkStatus) -> list[BulkResult]:
        return [r for r in self.results if r.status == status]

    def summary(self, *, limit: int = 10) -> str:
        """A one-screen account for people: counts, amounts, and the first problems."""
        count = len(self.results)
        lines = [
            f"{count} item{'' if count == 1 else 's'}: {len(self.applied)} applied "
            f"({format_money(self.applied_amount)} EUR), {len(self.failed)} failed, "
            f"{len(self.unknown)} unknown ({format_money(self.unknown_amount)} EUR may have moved)"
        ]
        problems = [r for r in self.results if r.status != "applied"]
        for r in problems[:limit]:
            reason = str(r.error) if r.error is not None else ""
            lines.append(f"  {r.status:<7} {r.token} {format_money(r.amount)} EUR: {reason}")
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def prepare(items: BulkItems) -> list[tuple[str, Decimal]]:
    """Validate every item before the first request; one bad item refuses the whole call."""
    pairs = cast(
        "Iterable[object]",
        cast("Mapping[str, Amount]", items).items() if isinstance(items, Mapping) else items,
    )
    prepared: list[tuple[str, Decimal]] = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, tuple | list) or len(cast("tuple[object, ...]", pair)) != 2:
            raise ValidationError(
                f"item {index} must be a (token, amount) pair, got {pair!r}", field="amounts"
            )
        token, amount = cast("tuple[object, object]", pair)
        where = f"item {index} ({token!r})"
        try:
            prepared.append((check_token(token), parse_amount(amount)))
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc}", field="amounts") from None
    return prepared


async def run_bulk(
    move: Move,
    items: BulkItems,
    *,
    concurrency: int,
    on_progress: ProgressCallback | None,
    on_result: ResultCallback | None,
    journal: JournalArg | None = None,
    direction: Direction = "add",
    snapshot: TakeSnapshot | None = None,
) -> BulkReport:
    """Run ``move`` over every item with at most ``concurrency`` in flight.

    With a ``journal``, a new run first takes ``snapshot()`` (the balances before it) and
    records its items; a resumed run sends only the items its journal says are surely not
    applied.
    """
    concurrency = check_positive_int(concurrency, field="concurrency")
    work = prepare(items)
    if journal is None:
        return await _BulkRun(move, work, on_progress, on_result).run(concurrency)
    opened = await anyio.to_thread.run_sync(as_journal(journal).open_run, direction, work)
    try:
        if opened.new:
            if snapshot is None:  # pragma: no cover - every caller passes one
                raise JournalError("a new journal needs the balances before the run")
            taken = await snapshot()
            await anyio.to_thread.run_sync(opened.start, direction, work, taken)
        return await _BulkRun(move, work, on_progress, on_result, opened).run(concurrency)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(opened.close)


_CANCELLED = "not sent: the bulk operation was cancelled"


class _BulkRun:
    """The state of one bulk call, shared by its workers."""

    def __init__(
        self,
        move: Move,
        work: list[tuple[str, Decimal]],
        on_progress: ProgressCallback | None,
        on_result: ResultCallback | None,
        log: RunLog | None = None,
    ) -> None:
        self._move = move
        self._work = work
        self._next = 0
        self._done = 0
        self._on_progress = on_progress
        self._on_result = on_result
        self._stopped_by: SMSPartnerError | None = None
        self._log = log
        self.results: list[BulkResult | None] = [None] * len(work)
        for earlier in log.resumed if log is not None else ():
            token, amount = work[earlier.index]
            if earlier.state == "applied":
                result = BulkResult(
                    token, amount, "applied", transfer=earlier.transfer, from_journal=True
                )
            else:
                reason = earlier.error or "an earlier run could not tell whether it was applied"
                unknown = OutcomeUnknownError(f"{reason}; settle it before sending it again")
                result = BulkResult(token, amount, "unknown", error=unknown, from_journal=True)
            self.results[earlier.index] = result
            self._done += 1
        self._todo = [i for i, r in enumerate(self.results) if r is None]

    async def run(self, concurrency: int) -> BulkReport:
        log = self._log
        try:
            async with anyio.create_task_group() as outer:
                if log is not None:
                    outer.start_soon(log.committer)
                try:
                    async with anyio.create_task_group() as tg:
                        for _ in range(min(concurrency, len(self._todo))):
                            tg.start_soon(self.worker)
                finally:
                    self.account_for_unstarted()
                    outer.cancel_scope.cancel()
        finally:
            if log is not None:
                with anyio.CancelScope(shield=True):
                    await log.flush()
        return BulkReport([r for r in self.results if r is not None])

    async def worker(self) -> None:
        while self._next < len(self._todo):
            # A cancellation (say, from an on_progress callback) stops the run here, before the
            # next item is claimed: it stays unsent, not "in flight". Without this a run whose
            # calls never yield (an in-process transport) would go on past its cancellation.
            await anyio.lowlevel.checkpoint_if_cancelled()
            index = self._todo[self._next]
            self._next += 1
            token, amount = self._work[index]
            if self._stopped_by is not None:
                self._record(index, _not_sent(token, amount, self._stopped_by))
                continue
            if self._log is not None:
                try:
                    await self._log.intend(index)
                except JournalError as exc:
                    # Nothing may leave without its intent on disk: stop the run.
                    self._stopped_by = self._stopped_by or exc
                    self._record(index, _not_sent(token, amount, exc))
                    continue
                except BaseException:
                    self._record(index, _not_sent(token, amount, SMSPartnerError(_CANCELLED)))
                    raise
            try:
                transfer = await self._move(token, amount)
            except OutcomeUnknownError as exc:
                self._record(index, BulkResult(token, amount, "unknown", error=exc))
            except AuthenticationError as exc:
                # The key itself is refused: every other item would be refused too.
                self._stopped_by = self._stopped_by or exc
                self._record(index, BulkResult(token, amount, "failed", error=exc))
            except SMSPartnerError as exc:
                sent = not isinstance(exc, NotSentError)  # the client refused: it never left
                self._record(index, BulkResult(token, amount, "failed", error=exc, sent=sent))
            except Exception as exc:  # a bug, ours or a transport's: the request may have left
                logger.exception("bulk item %d (%s) raised unexpectedly", index, token)
                unknown = OutcomeUnknownError(f"unexpected {type(exc).__name__}: {exc}")
                unknown.__cause__ = exc
                self._record(index, BulkResult(token, amount, "unknown", error=unknown))
            except BaseException as exc:  # cancelled, or interrupted (KeyboardInterrupt)
                cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
                what = "cancelled" if cancelled else f"interrupted ({type(exc).__name__})"
                interrupted = OutcomeUnknownError(
                    f"{what} while in flight: it may have been applied"
                )
                self._record(index, BulkResult(token, amount, "unknown", error=interrupted))
                raise
            else:
                self._record(index, BulkResult(token, amount, "applied", transfer=transfer))

    def account_for_unstarted(self) -> None:
        """After a cancellation: the items never started are failed, and were never sent."""
        reason = SMSPartnerError(_CANCELLED)
        for index in self._todo[self._next :]:
            token, amount = self._work[index]
            self._record(index, _not_sent(token, amount, reason))
        self._next = len(self._todo)

    def _record(self, index: int, result: BulkResult) -> None:
        self.results[index] = result
        self._done += 1
        if self._log is not None:
            self._log.outcome(_outcome(index, result))
        _call_safely(self._on_result, result)
        _call_safely(self._on_progress, self._done, len(self._work))


def _outcome(index: int, result: BulkResult) -> Outcome:
    state = "pending" if not result.sent else result.status
    error = None if result.error is None else " ".join(str(result.error).split())
    return (index, state, result.transfer, error, result.sent)


def _call_safely(callback: Callable[..., object] | None, *args: object) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:  # a reporting hook must never cost an item its outcome
        logger.exception("bulk callback %r raised; the run goes on", callback)


def _not_sent(token: str, amount: Decimal, reason: SMSPartnerError) -> BulkResult:
    return BulkResult(token, amount, "failed", error=reason, sent=False)
