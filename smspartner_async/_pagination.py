"""Walking ``subaccount/list`` 20 rows at a time, with pages fetched ahead of the reader.

Page 1 comes first and tells ``total``; the remaining pages are then fetched with up to
``prefetch`` requests in flight, as a sliding window: each arrival lets the next page be
requested. Rows come out in page order, each id once, with at most ``prefetch`` pages held
(arrived or in flight).

No task outlives a step of the iteration: requests run inside ``__anext__`` and the window
drains before it returns. So ``break``, a cancel scope or a timeout around ``async for``
leaves nothing running, under asyncio and trio alike, with no ``async with`` needed.

The walk ends however the server behaves: ``total`` only extends the walk when a full page
brought rows not seen before, and an empty page ends it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import attrs

from ._models import Subaccount, SubaccountPage

__all__ = ["PER_PAGE", "SubaccountPaginator"]

#: Rows per page of ``subaccount/list`` (the API's fixed page size).
PER_PAGE = 20

FetchPage = Callable[[int], Awaitable[SubaccountPage]]


class SubaccountPaginator:
    """Every sub-account, page after page. Iterate it for rows, or [`pages`][] for pages.

    Made by [`AsyncSubaccounts.list`][smspartner_async.AsyncSubaccounts.list]:

    ```python
    async for sub in client.subaccounts.list(prefetch=8):
        print(sub.token, sub.credits.balance)

    async for page in client.subaccounts.list().pages():
        print(page.page, len(page.items))
    ```

    Each iteration walks the list afresh. Leaving the loop early (``break``, an exception, a
    timeout) leaves no request running.
    """

    def __init__(self, fetch: FetchPage, *, prefetch: int) -> None:
        self._fetch = fetch
        self._prefetch = prefetch

    def __repr__(self) -> str:
        return f"SubaccountPaginator(prefetch={self._prefetch})"

    def pages(self) -> AsyncIterator[SubaccountPage]:
        """The pages, in order, each row appearing once across them; repeat-only pages skipped."""
        return _PageWalker(self._fetch, self._prefetch)

    def __aiter__(self) -> AsyncIterator[Subaccount]:
        return _RowIterator(self.pages())


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
    def __init__(self, fetch: FetchPage, prefetch: int) -> None:
        self._fetch = fetch
        self._prefetch = prefetch
        self._next = 1  # the page to hand out next
        self._requested = 0  # the highest page requested so far
        self._last: int | None = None  # the last page to walk; unknown until page 1 arrives
        self._per_page = PER_PAGE
        self._in_flight = 0
        self._ready: dict[int, SubaccountPage | Exception] = {}
        self._seen: set[int] = set()
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
                    await self._fill(number)
                except BaseException:
                    self._done = True  # cancelled mid-window: the window's pages are gone
                    raise
            outcome = self._ready.pop(number)
            self._next += 1
            if isinstance(outcome, Exception):
                self._done = True
                raise outcome
            page = self._account_for(outcome)
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
            self._last = max(1, _pages(page.total, self._per_page))
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
            self._last = max(self._last, _pages(page.total, self._per_page))
        if not fresh:
            return None
        return page if len(fresh) == len(page.items) else attrs.evolve(page, items=fresh)

    async def _fill(self, needed: int) -> None:
        """Fetch until page ``needed`` has arrived, keeping up to ``prefetch`` in flight."""
        # Before page 1 answers, the walk's length is unknown: fetch it alone.
        window = 1 if self._last is None else self._prefetch
        last = 1 if self._last is None else self._last

        async with anyio.create_task_group() as tg:

            def top_up() -> None:
                while (
                    needed not in self._ready
                    and self._requested < last
                    and len(self._ready) + self._in_flight < window
                ):
                    self._requested += 1
                    self._in_flight += 1
                    tg.start_soon(fetch_one, self._requested)

            async def fetch_one(number: int) -> None:
                try:
                    self._ready[number] = await self._fetch(number)
                except Exception as exc:
                    self._ready[number] = exc
                finally:
                    self._in_flight -= 1
                top_up()

            top_up()


def _pages(total: int, per_page: int) -> int:
    """Pages needed for ``total`` rows, in integers: ``total / per_page`` overflows a float
    when a broken answer says ``total: 1e400``-sized numbers."""
    return -(-total // per_page)
