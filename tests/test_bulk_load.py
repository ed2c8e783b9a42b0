"""Many concurrent calls from separate tasks on one shared client, over a real connection pool.

The emulator is served by uvicorn on 127.0.0.1, so the client's own pool (aiohttp's on asyncio,
httpx's on trio) does the work. Requests beyond ``max_connections`` wait in the client's
limiter, where no timeout runs, never in the pool: no ``PoolTimeout`` however many are queued.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from _support import BASE_URL, CANARY, TRANSFER, Server, ok

import smspartner_async as sp
from smspartner_async.testing import Emulator, served

pytestmark = pytest.mark.anyio


#: calls per run: (backend, max_connections) -> n
CALLS = {
    ("asyncio", 100): 10_000,
    # Ten connections force the same queueing 100 calls deep; more calls add only time.
    ("asyncio", 10): 1_000,
    # Under trio the client uses httpx's own pool, whose request assignment scans every
    # connection and queued request on each event (encode/httpx#3215): with the served
    # emulator sharing the GIL it manages ~150 calls/s here, so 10,000 would take over a
    # minute. 1,000 calls still queue 10 deep behind 100 connections.
    ("trio", 100): 1_000,
    ("trio", 10): 500,
}


@pytest.mark.parametrize("max_connections", [100, 10])
async def test_many_concurrent_calls_share_one_client(
    anyio_backend: str, max_connections: int
) -> None:
    n = CALLS[anyio_backend, max_connections]
    emu = Emulator(main_balance="100000")
    tokens = emu.seed_subaccounts(50)
    errors: list[BaseException] = []
    transfers: list[sp.CreditTransfer] = []

    async def one(i: int) -> None:
        try:
            transfers.append(await client.subaccounts.add_credit(tokens[i % 50], "0.001"))
        except sp.SMSPartnerError as exc:  # collected, so one failure does not hide the rest
            errors.append(exc)

    async with (
        served(emu) as base_url,
        # The 10,000-call run lasts longer than this timeout: a call's wait for its turn must
        # not count against it. The timeout is each attempt's deadline (connect, send and the
        # whole answer), and the served emulator shares this process with 100 calls in
        # flight: it must allow for the loop's own stalls, while connecting too (plain seconds
        # would cap that phase at 5 s, which a loaded machine has overrun). No retries, so no
        # pool or connect error can hide.
        sp.AsyncSMSPartner(
            api_key=emu.api_key,
            base_url=base_url,
            timeout=httpx.Timeout(15.0),
            max_connections=max_connections,
            retry=sp.RetryPolicy(max_attempts=1),
        ) as client,
        # The pool under test: aiohttp's on asyncio (the extra is installed), httpcore's on trio
        # (tests/test_coverage_transport.py checks that choice).
        anyio.create_task_group() as tg,
    ):
        for i in range(n):
            tg.start_soon(one, i)
    assert errors == []
    assert len(transfers) == n
    assert Counter(t.token for t in emu.transfers if t.operation != "seed") == Counter(
        tokens[i % 50] for i in range(n)
    )
    assert emu.main_balance == Decimal("100000") - Decimal("0.001") * n
    assert emu.total_money() == Decimal("100000")


async def test_queued_calls_build_their_request_only_when_their_turn_comes() -> None:
    """Calls waiting for a connection do no work that competes with the calls in flight.

    Building 10,000 requests up front held the event loop for seconds under load, while the
    100 calls in flight ran down their timeouts and failed with "Connection timeout to host".
    """
    built = 0
    peak_built_ahead = 0
    in_flight = 0

    class CountingClient(httpx.AsyncClient):
        def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
            nonlocal built
            built += 1
            return super().build_request(*args, **kwargs)

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak_built_ahead
        in_flight += 1
        peak_built_ahead = max(peak_built_ahead, built - (len(server.requests) - in_flight))
        await anyio.sleep(0)
        in_flight -= 1
        return ok(**TRANSFER)

    server = Server(handler)
    async with (
        CountingClient(transport=server.transport()) as http,
        sp.AsyncSMSPartner(
            api_key=CANARY, base_url=BASE_URL, http_client=http, max_connections=3
        ) as client,
        anyio.create_task_group() as tg,
    ):
        for i in range(300):
            tg.start_soon(client.subaccounts.add_credit, f"tok{i}", 1)
    assert server.count == built == 300
    # Requests built but not finished never exceed the calls allowed in flight.
    assert peak_built_ahead <= 3
