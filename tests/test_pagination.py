"""``subaccounts.list()``: every row once, in page order, with at most ``prefetch`` requests out."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Callable

import anyio
import httpx
import pytest
from _support import CANARY, Server, fail, ok, page_answer, raw, row, rows_server

import smspartner_async as sp
from smspartner_async import _pagination

pytestmark = pytest.mark.usefixtures("no_backoff")


def page_of(request: httpx.Request) -> int:
    return int(request.url.params["page"])


class Tracker:
    """Wraps a handler: counts the requests in flight at once, and can hold them."""

    def __init__(self, inner: Callable[[httpx.Request], httpx.Response]) -> None:
        self.inner = inner
        self.in_flight = 0
        self.peak = 0
        self.started: list[int] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.started.append(page_of(request))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for _ in range(5):  # let every other request that can start, start
                await anyio.sleep(0)
            return self.inner(request)
        finally:
            self.in_flight -= 1


async def collect(rows: AsyncIterable[sp.Subaccount], into: list[int]) -> None:
    async for sub in rows:
        into.append(sub.id)


async def walk(client: sp.AsyncSMSPartner, prefetch: int) -> list[int]:
    return [sub.id async for sub in client.subaccounts.list(prefetch=prefetch)]


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 2, 8])
@pytest.mark.parametrize("n", [0, 1, 20, 21, 29, 41, 1000])
async def test_every_row_once_in_order(n: int, prefetch: int) -> None:
    server = Server(rows_server(n))
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, n + 1))
    pages = max(1, math.ceil(n / 20))
    assert sorted(page_of(r) for r in server.requests) == list(range(1, pages + 1))


@pytest.mark.anyio
@pytest.mark.parametrize("n", [0, 29, 1000])
async def test_prefetch_one_and_eight_give_the_same_rows(n: int) -> None:
    rows = {}
    for prefetch in (1, 8):
        server = Server(rows_server(n))
        async with server.client() as client:
            rows[prefetch] = [
                (s.id, s.token, s.credits) async for s in client.subaccounts.list(prefetch=prefetch)
            ]
    assert rows[1] == rows[8]
    assert len(rows[1]) == n


@pytest.mark.anyio
async def test_page_one_comes_alone_first() -> None:
    tracker = Tracker(rows_server(200))
    server = Server(tracker)
    async with server.client() as client:
        await walk(client, 8)
    assert tracker.started[0] == 1
    assert tracker.started.count(1) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 2, 3, 8, 16])
async def test_never_more_than_prefetch_in_flight(prefetch: int) -> None:
    tracker = Tracker(rows_server(1000))
    server = Server(tracker)
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 1001))
    assert tracker.peak <= prefetch
    if prefetch > 1:
        assert tracker.peak > 1  # pages really are fetched ahead
    assert tracker.in_flight == 0


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 4])
async def test_pages_held_stay_within_prefetch(prefetch: int) -> None:
    server = Server(rows_server(400))
    async with server.client() as client:
        async for page in client.subaccounts.list(prefetch=prefetch).pages():
            # requested so far: the pages handed out, plus at most prefetch - 1 ahead
            assert server.count <= page.page + prefetch - 1
            await anyio.sleep(0)


@pytest.mark.anyio
async def test_sequential_walk_with_prefetch_one() -> None:
    tracker = Tracker(rows_server(100))
    server = Server(tracker)
    async with server.client() as client:
        await walk(client, 1)
    assert tracker.peak == 1
    assert tracker.started == [1, 2, 3, 4, 5]


# -- a server that moves under the walk ---------------------------------------------------------


class Shifting:
    """A list whose rows change once page 1 has been served, before any other page is."""

    def __init__(self, ids: list[int], change: Callable[[list[int]], None]) -> None:
        self.ids = ids
        self.change: Callable[[list[int]], None] | None = change

    def __call__(self, request: httpx.Request) -> httpx.Response:
        number = page_of(request)
        if number != 1 and self.change is not None:
            self.change(self.ids)
            self.change = None
        chunk = self.ids[(number - 1) * 20 : number * 20]
        return page_answer(chunk, total=len(self.ids), page=number)


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_total_grows_mid_walk(prefetch: int) -> None:
    # 29 rows when page 1 is read; 16 more appended before page 2 is served
    server = Server(Shifting(list(range(1, 30)), lambda ids: ids.extend(range(30, 46))))
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 46))


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_total_shrinks_mid_walk(prefetch: int) -> None:
    # 100 rows when page 1 is read; only 30 left afterwards
    server = Server(Shifting(list(range(1, 101)), lambda ids: ids.__delitem__(slice(30, None))))
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 31))
    assert len(ids) == len(set(ids))


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_rows_inserted_at_the_front_are_not_repeated(prefetch: int) -> None:
    def insert(ids: list[int]) -> None:
        ids[0:0] = range(1001, 1006)

    server = Server(Shifting(list(range(1, 61)), insert))
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert len(ids) == len(set(ids))
    assert ids[:20] == list(range(1, 21))
    assert set(range(1, 61)) <= set(ids)


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_total_keeps_growing_but_rows_repeat(prefetch: int) -> None:
    # A server that always answers page 1 and claims ever more rows: must still stop.
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return page_answer(range(1, 21), total=20 * (calls + 5), page=page_of(request))

    server = Server(handler)
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 21))
    assert server.count < 20


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
@pytest.mark.parametrize("total", [100, 10**12])
async def test_a_server_that_ignores_the_page_number(prefetch: int, total: int) -> None:
    # Every answer is page 1, whatever was asked, with a total that would take 5 x 10**10 pages.
    server = Server(lambda r: page_answer(range(1, 21), total=total, page=1))
    ids: list[int] = []
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await collect(client.subaccounts.list(prefetch=prefetch), ids)
    assert ids == list(range(1, 21))  # the rows before the contradiction
    assert "asked for page 2, the answer is page 1" in str(info.value)
    assert info.value.endpoint == "subaccount/list"
    assert server.count <= 1 + prefetch


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_the_same_rows_under_every_page_number_end_the_walk(prefetch: int) -> None:
    # The page number is echoed, but the rows are page 1's every time.
    server = Server(lambda r: page_answer(range(1, 21), total=10**12, page=page_of(r)))
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 21))
    assert server.count <= 3 + prefetch  # page 1, two pages of nothing new, those in flight


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_repeated_rows_within_and_across_pages(prefetch: int) -> None:
    pages = {
        1: [1, 2, 2, 3, 1, *range(4, 19)],
        2: [18, 19, 20, 3, 21, *range(22, 36), 21],
        3: [35, 36, 36, 37],
    }
    server = Server(lambda r: page_answer(pages[page_of(r)], total=60, page=page_of(r)))
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 38))


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_short_pages_do_not_end_the_walk(prefetch: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        number = page_of(request)
        start = (number - 1) * 15
        return page_answer(range(start + 1, start + 16), total=60, page=number)

    server = Server(handler)
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 46))
    assert server.count == 3


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_an_empty_page_ends_the_walk(prefetch: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        number = page_of(request)
        if number == 3:
            return page_answer([], total=100, page=3)
        start = (number - 1) * 20
        return page_answer(range(start + 1, start + 21), total=100, page=number)

    server = Server(handler)
    async with server.client() as client:
        ids = await walk(client, prefetch)
    assert ids == list(range(1, 41))


@pytest.mark.anyio
async def test_total_smaller_than_page_one() -> None:
    server = Server(lambda r: page_answer(range(1, 21), total=0, page=1))
    async with server.client() as client:
        ids = await walk(client, 4)
    assert ids == list(range(1, 21))
    assert server.count == 1


@pytest.mark.anyio
async def test_server_page_size_is_followed() -> None:
    server = Server(rows_server(95, per_page=50))
    async with server.client() as client:
        ids = await walk(client, 4)
    assert ids == list(range(1, 96))
    assert server.count == 2


@pytest.mark.anyio
async def test_nonsense_page_size_falls_back_on_twenty() -> None:
    good = rows_server(41)

    def handler(request: httpx.Request) -> httpx.Response:
        data = good(request).json()
        data["nb_per_page"] = 0
        return httpx.Response(200, json=data)

    server = Server(handler)
    async with server.client() as client:
        ids = await walk(client, 4)
    assert ids == list(range(1, 42))
    assert server.count == 3


# -- errors mid-walk ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
@pytest.mark.parametrize(
    ("failure", "cls"),
    [
        (fail(10, "Clé API incorrecte"), sp.AuthenticationError),
        (raw("<html>", 200), sp.DecodeError),
        (raw("", 502), sp.ServerError),
    ],
)
async def test_error_on_page_k_comes_after_the_rows_before_it(
    prefetch: int, failure: httpx.Response, cls: type[sp.SMSPartnerError]
) -> None:
    good = rows_server(200)
    server = Server(lambda r: failure if page_of(r) == 3 else good(r))
    seen: list[int] = []
    async with server.client(retry=sp.RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(cls):
            await collect(client.subaccounts.list(prefetch=prefetch), seen)
    assert seen == list(range(1, 41))


@pytest.mark.anyio
async def test_error_on_page_one_yields_nothing() -> None:
    server = Server(lambda r: fail(1, "Clé API requise"))
    seen: list[int] = []
    async with server.client() as client:
        with pytest.raises(sp.AuthenticationError):
            await collect(client.subaccounts.list(), seen)
    assert seen == []
    assert server.count == 1


@pytest.mark.anyio
async def test_iterator_is_finished_after_an_error() -> None:
    good = rows_server(100)
    server = Server(lambda r: fail(10, "x") if page_of(r) == 2 else good(r))
    async with server.client() as client:
        rows = aiter(client.subaccounts.list(prefetch=1))
        for _ in range(20):
            await anext(rows)
        with pytest.raises(sp.AuthenticationError):
            await anext(rows)
        with pytest.raises(StopAsyncIteration):
            await anext(rows)


# -- leaving early ------------------------------------------------------------------------------


def task_ids() -> set[int]:
    return {task.id for task in anyio.get_running_tasks()}


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_break_leaves_no_task_running(prefetch: int) -> None:
    tracker = Tracker(rows_server(1000))
    server = Server(tracker)
    async with server.client() as client:
        before = task_ids()
        async for sub in client.subaccounts.list(prefetch=prefetch):
            if sub.id == 25:
                break
        assert task_ids() == before
        assert tracker.in_flight == 0
        requested = server.count
        await anyio.wait_all_tasks_blocked()
        assert server.count == requested
        assert requested <= 2 + prefetch


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
@pytest.mark.parametrize("cancel_on_page", [1, 2, 5])
async def test_cancel_scope_around_the_loop_leaves_no_task(
    prefetch: int, cancel_on_page: int
) -> None:
    good = rows_server(1000)
    scope = anyio.CancelScope()
    held = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal held
        if page_of(request) == cancel_on_page:
            scope.cancel()
            held += 1
            try:
                await anyio.sleep_forever()
            finally:
                held -= 1
        await anyio.sleep(0)
        return good(request)

    server = Server(handler)
    seen: list[int] = []
    async with server.client() as client:
        before = task_ids()
        with scope:
            async for sub in client.subaccounts.list(prefetch=prefetch):
                seen.append(sub.id)
        assert scope.cancelled_caught
        assert task_ids() == before
        assert held == 0
        requested = server.count
        await anyio.wait_all_tasks_blocked()
        assert server.count == requested
        # the client is still usable afterwards
        server.handler = good
        assert (await client.subaccounts.list_page(1)).total == 1000
    assert seen == list(range(1, len(seen) + 1))
    assert len(seen) <= (cancel_on_page - 1) * 20


# -- pages() and reuse --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 8])
async def test_pages_iterator(prefetch: int) -> None:
    server = Server(rows_server(41))
    async with server.client() as client:
        pages = [p async for p in client.subaccounts.list(prefetch=prefetch).pages()]
    assert [p.page for p in pages] == [1, 2, 3]
    assert [len(p.items) for p in pages] == [20, 20, 1]
    assert all(isinstance(p, sp.SubaccountPage) for p in pages)
    assert all(p.total == 41 and p.per_page == 20 for p in pages)


@pytest.mark.anyio
async def test_pages_drop_repeated_rows_and_skip_repeat_only_pages() -> None:
    pages = {1: list(range(1, 21)), 2: list(range(1, 21)), 3: [*range(15, 21), 41, 42]}
    server = Server(lambda r: page_answer(pages[page_of(r)], total=60, page=page_of(r)))
    async with server.client() as client:
        got = [p async for p in client.subaccounts.list(prefetch=2).pages()]
    assert [p.page for p in got] == [1, 3]
    assert [s.id for s in got[1].items] == [41, 42]


@pytest.mark.anyio
async def test_each_iteration_walks_afresh() -> None:
    server = Server(rows_server(30))
    async with server.client() as client:
        paginator = client.subaccounts.list()
        first = [s.id async for s in paginator]
        second = [s.id async for s in paginator]
    assert first == second == list(range(1, 31))
    assert server.count == 4


def test_paginator_repr() -> None:
    client = sp.AsyncSMSPartner(api_key=CANARY)
    assert repr(client.subaccounts.list(prefetch=3)) == "SubaccountPaginator(prefetch=3)"


@pytest.mark.anyio
async def test_rows_are_subaccounts() -> None:
    server = Server(lambda r: ok(total=1, nb_per_page=20, page=1, data=[row(9)]))
    async with server.client() as client:
        [sub] = [s async for s in client.subaccounts.list()]
    assert isinstance(sub, sp.Subaccount)
    assert sub.token == "tok9"


# -- async with: the window slides in the background ------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [1, 3, 8])
@pytest.mark.parametrize("n", [0, 29, 1000])
async def test_async_with_gives_the_same_rows(n: int, prefetch: int) -> None:
    server = Server(Tracker(rows_server(n)))
    async with server.client() as client, client.subaccounts.list(prefetch=prefetch) as rows:
        ids = [sub.id async for sub in rows]
    assert ids == list(range(1, n + 1))


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [2, 4])
async def test_async_with_requests_the_next_page_as_each_is_taken(prefetch: int) -> None:
    # The sliding window: once the reader has taken page k, pages up to k + prefetch are asked
    # without the reader asking for anything more. Plain iteration waits for the reader to run
    # out of pages before it asks again.
    tracker = Tracker(rows_server(400))  # 20 pages
    server = Server(tracker)
    async with server.client() as client, client.subaccounts.list(prefetch=prefetch) as rows:
        async for sub in rows:
            if sub.id % 20 == 1 and sub.id > 1:  # the first row of page k >= 2
                k = (sub.id - 1) // 20 + 1
                await anyio.wait_all_tasks_blocked()
                assert max(tracker.started) == min(20, k + prefetch)
                assert tracker.peak <= prefetch
    assert sorted(tracker.started) == list(range(1, 21))


@pytest.mark.anyio
async def test_async_with_break_cancels_the_background_window() -> None:
    tracker = Tracker(rows_server(1000))
    server = Server(tracker)
    async with server.client() as client:
        before = task_ids()
        async with client.subaccounts.list(prefetch=8) as rows:
            async for sub in rows:
                if sub.id == 25:
                    break
        assert task_ids() == before
        assert tracker.in_flight == 0
        requested = server.count
        await anyio.wait_all_tasks_blocked()
        assert server.count == requested


@pytest.mark.anyio
async def test_async_with_lets_the_block_exception_through_unwrapped() -> None:
    server = Server(rows_server(100))
    async with server.client() as client:

        async def read_then_fail() -> None:
            async with client.subaccounts.list(prefetch=4) as rows:
                async for _ in rows:
                    raise KeyError("stop")

        with pytest.raises(KeyError, match="stop"):
            await read_then_fail()


@pytest.mark.anyio
async def test_async_with_error_on_a_page_reaches_the_reader() -> None:
    good = rows_server(100)

    def handler(request: httpx.Request) -> httpx.Response:
        if page_of(request) == 3:
            return fail(10, "bad key", status=400)
        return good(request)

    server = Server(handler)
    seen: list[int] = []
    async with server.client() as client:

        async def read() -> None:
            async with client.subaccounts.list(prefetch=4) as rows:
                async for sub in rows:
                    seen.append(sub.id)

        with pytest.raises(sp.AuthenticationError):
            await read()
    assert seen == list(range(1, 41))


@pytest.mark.anyio
async def test_async_with_cannot_be_entered_twice_at_once() -> None:
    server = Server(rows_server(10))
    async with server.client() as client:
        paginator = client.subaccounts.list()
        async with paginator:
            with pytest.raises(RuntimeError):
                await paginator.__aenter__()
        async with paginator as rows:  # and may be entered again afterwards
            assert [s.id async for s in rows] == list(range(1, 11))


@pytest.mark.anyio
async def test_the_walk_stops_at_the_last_page_number_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # New rows on every page, and a total of 10**12: the walk stops at MAX_PAGE (1,000,000
    # in production; 5 here, to keep the test short).
    monkeypatch.setattr(_pagination, "MAX_PAGE", 5)

    def handler(request: httpx.Request) -> httpx.Response:
        start = (page_of(request) - 1) * 20
        return page_answer(range(start + 1, start + 21), total=10**12, page=page_of(request))

    server = Server(handler)
    async with server.client() as client:
        ids = await walk(client, 3)
    assert ids == list(range(1, 101))
    assert server.count == 5
