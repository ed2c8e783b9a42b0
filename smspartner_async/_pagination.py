"""Walking ``subaccount/list`` 20 rows at a time, with pages fetched ahead of the reader.

Page 1 comes first and tells ``total``; the remaining pages are then fetched with up to
``prefetch`` requests in flight. Rows come out in page order, each id once, with at most
``prefetch`` pages held (arrived or in flight).

Two ways to run the window:

- ``async for sub in paginator``: no task outlives a step of the iteration. When the reader
  needs a page that has not arrived, ``__anext__`` fills the window (each arrival requesting the
  next page until the needed one is in), then lets the requests already in flight land before
  it returns. So ``break``, a cancel scope or a timeout leaves nothing running, under asyncio
  and trio alike, with nothing to close; the window refills when the reader drains it.
- ``async with paginator as rows``: the window slides in the background for the whole block —
  as soon as the reader takes a page, the next one is requested — in a task group that the
  ``async with`` owns and cancels on the way out.

The walk ends however the server behaves, after at most ``ceil(total / per_page)`` requests
(``total`` and ``per_page`` of page 1, capped at page :data:`MAX_PAGE`) plus up to ``prefetch``
already in flight: ``total`` only extends the walk when a full page brought rows not seen
before; an empty page ends it; two pages in a row that bring no new row end it; and a page
whose ``page`` is not the number asked for (a server that ignores ``?page=`` and answers page 1
every time) raises :class:`DecodeError` when the reader reaches it, after the rows before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

import anyio
import attrs
from anyio.abc import TaskGroup

from ._endpoints import LIST
from ._errors import DecodeError
from ._models import Subaccount, SubaccountPage

__all__ = ["MAX_PAGE", "MAX_STALE_PAGES", "PER_PAGE", "SubaccountPaginator"]

#: Rows per page of ``subaccount/list`` (the API's fixed page size).
PER_PAGE = 20
#: The highest page number ``list_page`` asks for: 20 million rows, past any real account.
MAX_PAGE = 1_000_000
#: Pages in a row that bring no row not seen before, after which the walk ends.
MAX_STALE_PAGES = 2

FetchPage = Callable[[int], Awaitable[SubaccountPage]]


class SubaccountPaginator:
    """Every sub-account, page after page. Iterate it for rows, or [`pages`][] for pages.

    Made by [`AsyncSubaccounts.list`][smspartner_async.AsyncSubaccounts.list]:

    ```python
    async for sub in client.subaccounts.list(prefetch=8):
        print(sub.token, sub.credits.balance)

    async for page in client.subaccounts.list().pages():
        print(page.page, len(page.items))

    # The window slides in the background while the block runs:
    # best for slow readers.
    async with client.subaccounts.list(prefetch=8) as rows:
        async for sub in rows:
            await process(sub)
    ```

    Each iteration walks the list afresh. Leaving the loop early (``break``, an exception, a
    timeout) leaves no request running.

    The walk is bounded whatever the server answers: at most ``ceil(total / 20)`` requests
    (``total`` of page 1, extended only by full pages of new rows, never past page 1,000,000)
    plus up to ``prefetch`` in flight. Two pages in a row without a new row end it, as does an
    empty page. A page that says it is not the page asked for (a server ignoring ``?page=``)
    raises [`DecodeError`][] when the reader reaches it, after every row before it.
    """

    def __init__(self, fetch: Callable[[int], Awaitable[SubaccountPage]], *, prefetch: int) -> None:
        # The type spelt out, not `FetchPage`: the reference shows this signature.
        self._fetch = fetch
        self._prefetch = prefetch
        self._task_group: TaskGroup | None = None

    def __repr__(self) -> str:
        return f"SubaccountPaginator(prefetch={self._prefetch})"

    def pages(self) -> AsyncIterator[SubaccountPage]:
        """The pages, in order, each row appearing once across them; repeat-only pages skipped."""
        return _PageWalker(self._fetch, self._prefetch)

    def __aiter__(self) -> AsyncIterator[Subaccount]:
        return _RowIterator(self.pages())

    async def __aenter__(self) -> AsyncIterator[Subaccount]:
        """Rows, fetched ahead by a sliding window that runs in the background of the block."""
        if self._task_group is not None:
            raise RuntimeError("this paginator is already in an async with block")
        self._task_group = anyio.create_task_group()
        task_group = await self._task_group.__aenter__()
        return _RowIterator(_PageWalker(self._fetch, self._prefetch, task_group))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group, self._task_group = self._task_group, None
        assert task_group is not None
        task_group.cancel_scope.cancel()
        # The fetches keep their failures for the reader, so the group ends clean; the block's
        # own exception, if any, goes on unwrapped.
        await task_group.__aexit__(None, None, None)


class _RowIterator:
    def __init__(self, pages: AsyncIterator[SubaccountPage]) -> None:
        self._pages = pages
        self._rows: deque[Subaccount] = deque()

    def __aiter__(self) -> _RowIterator:
        return self

    async def __anext__(self) -> Subaccount:
        while not self._rows:
            page = await self._pages.__anext__()
            self._rows.extend(page.items)
        return self._rows.popleft()


class _PageWalker:
    def __init__(
        self, fetch: FetchPage, prefetch: int, background: TaskGroup | None = None
    ) -> None:
        self._fetch = fetch
        self._prefetch = prefetch
        self._background = background  # set: the window slides in this group between steps
        self._next = 1  # the page to hand out next
        self._requested = 0  # the highest page requested so far
        self._last: int | None = None  # the last page to walk; unknown until page 1 arrives
        self._per_page = PER_PAGE
        self._in_flight = 0
        self._ready: dict[int, SubaccountPage | Exception] = {}
        self._arrival = anyio.Event()
        self._seen: set[int] = set()
        self._stale = 0  # pages in a row, in page order, that brought no new row
        self._done = False

    def __aiter__(self) -> _PageWalker:
        return self

    async def __anext__(self) -> SubaccountPage:
        while not self._done:
            number = self._next
            if self._last is not None and number > self._last:
                break
            if number not in self._ready:
                try:
                    await self._wait_for(number)
                except BaseException:
                    self._done = True  # cancelled mid-window: the window's pages are gone
                    raise
            outcome = self._ready.pop(number)
            self._next += 1
            if isinstance(outcome, Exception):
                self._done = True
                raise outcome
            if outcome.page != number:
                self._done = True
                raise DecodeError(
                    f"{LIST.path}: asked for page {number}, the answer is page {outcome.page}: "
                    "the server does not follow the page number, so the list cannot be walked",
                    status_code=200,
                    endpoint=LIST.path,
                    errors=[f"page {outcome.page}, not {number} @ $.page"],
                )
            page = self._account_for(outcome)
            if self._background is not None:
                self._top_up(self._background)  # the reader took a page: slide the window
            if page is not None:
                return page
        self._done = True
        self._ready.clear()
        raise StopAsyncIteration

    def _account_for(self, page: SubaccountPage) -> SubaccountPage | None:
        """Update the plan from a page; return it with only unseen rows (None: nothing new)."""
        if self._last is None:
            if page.per_page > 0:
                self._per_page = page.per_page
            self._last = min(MAX_PAGE, max(1, _pages(page.total, self._per_page)))
        if not page.items:
            self._done = True  # past the end of the data, whatever total says
            return None
        fresh: list[Subaccount] = []
        for row in page.items:  # a page may repeat a row too, not only earlier pages
            if row.id not in self._seen:
                self._seen.add(row.id)
                fresh.append(row)
        if fresh and len(page.items) >= self._per_page and page.total > 0:
            # The list grew during the walk: follow it, but only on evidence of new rows.
            self._last = min(MAX_PAGE, max(self._last, _pages(page.total, self._per_page)))
        if not fresh:
            self._stale += 1
            if self._stale >= MAX_STALE_PAGES:
                self._done = True  # the server repeats itself: no new row is coming
            return None
        self._stale = 0
        return page if len(fresh) == len(page.items) else attrs.evolve(page, items=fresh)

    async def _wait_for(self, needed: int) -> None:
        """Return once page ``needed`` has arrived, keeping up to ``prefetch`` in flight."""
        if self._background is not None:
            self._top_up(self._background)
            while needed not in self._ready:
                self._arrival = anyio.Event()
                await self._arrival.wait()
            return
        # One step's own group: it stops requesting once ``needed`` is in, and the group's end
        # waits for the requests already in flight, so none outlives this step.
        async with anyio.create_task_group() as step:
            self._top_up(step, needed)

    def _top_up(self, group: TaskGroup, needed: int | None = None) -> None:
        """Request the next pages while the window has room (and ``needed`` is not in)."""
        # Before page 1 answers, the walk's length is unknown: fetch it alone.
        window = 1 if self._last is None else self._prefetch
        last = 1 if self._last is None else self._last
        while (
            not self._done
            and self._requested < last
            and len(self._ready) + self._in_flight < window
            and (needed is None or needed not in self._ready)
        ):
            self._requested += 1
            self._in_flight += 1
            group.start_soon(self._fetch_one, self._requested, group, needed)

    async def _fetch_one(self, number: int, group: TaskGroup, needed: int | None) -> None:
        try:
            self._ready[number] = await self._fetch(number)
        except Exception as exc:
            self._ready[number] = exc  # raised when the reader reaches this page
        finally:
            self._in_flight -= 1
        self._arrival.set()
        self._top_up(group, needed)


def _pages(total: int, per_page: int) -> int:
    """Pages needed for ``total`` rows, in integers: ``total / per_page`` overflows a float
    when a broken answer says ``total: 1e400``-sized numbers."""
    return -(-total // per_page)
