"""What goes over the wire, counted at a raw socket server: each request sent once, by us alone;
each answer taken as the answer of the request it follows; no connection kept past its time.

Every test runs on asyncio (the aiohttp transport) and on trio (httpx's own stack), each
through the client's default transport.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import anyio
import httpx
import pytest
from _support import CANARY, ME, TRANSFER
from _wire import Exchange, raw_server, response

import smspartner_async as sp
from smspartner_async._transport import (  # pyright: ignore[reportPrivateUsage]
    KEEPALIVE_EXPIRY,
    MAX_ANSWER_BYTES,
    make_http_client,
)

APPLIED = json.dumps({"success": True, "code": 200, **TRANSFER})
REFUSED = json.dumps({"success": False, "code": 6, "message": "not enough credit"})
ACCOUNT = json.dumps({"success": True, "code": 200, **ME})


@pytest.fixture(autouse=True)
def _fast_retries(no_backoff: None) -> None:
    """Retries as in production, without the waits."""


def client_for(url: str, **kwargs: object) -> sp.AsyncSMSPartner:
    return sp.AsyncSMSPartner(api_key=CANARY, base_url=url, **kwargs)  # type: ignore[arg-type]


# -- 3. nothing below us re-sends -------------------------------------------------------------


def hang_up_after_the_first(exchange: Exchange) -> None:
    """Answer the first request; read every later one and hang up without a word."""
    if exchange.index == 1:
        exchange.send(response(ACCOUNT))
    else:
        exchange.hang_up()


@pytest.mark.anyio
async def test_a_delete_on_a_dropped_keep_alive_connection_is_sent_once(anyio_backend: str) -> None:
    with raw_server(hang_up_after_the_first) as server:
        async with client_for(server.url) as client:
            await client.account()  # leaves a kept-alive connection
            with pytest.raises(sp.OutcomeUnknownError):
                await client.subaccounts.delete("tok1")
    assert [e.method for e in server.requests] == ["GET", "DELETE"]


@pytest.mark.anyio
async def test_a_read_is_sent_once_per_attempt(anyio_backend: str) -> None:
    with raw_server(hang_up_after_the_first) as server:
        async with client_for(server.url, retry=sp.RetryPolicy(max_attempts=3)) as client:
            await client.account()
            with pytest.raises(sp.APIConnectionError):
                await client.account()
    assert server.count == 1 + 3  # the first call, then one request per attempt


# -- 4. an answer belongs to its request --------------------------------------------------------


@pytest.mark.anyio
async def test_an_answer_written_twice_is_not_the_next_requests_answer(anyio_backend: str) -> None:
    def answer(exchange: Exchange) -> None:
        if exchange.index == 1:
            exchange.send(response(REFUSED) * 2)  # one refusal, sent twice at once
        else:
            exchange.send(response(APPLIED))

    with raw_server(answer) as server:
        async with client_for(server.url) as client:
            with pytest.raises(sp.InsufficientCreditError):
                await client.subaccounts.add_credit("tok1", "25")
            transfer = await client.subaccounts.add_credit("tok2", "25")
    assert transfer.subaccount_balance == Decimal("61.8")
    assert [e.connection for e in server.requests] == [1, 2]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "anyio_backend",
    # aiohttp keeps the start of a message its parser has not finished out of sight; it is
    # covered once complete (the test above) or arriving while idle (the test below).
    ["trio"],
)
async def test_bytes_past_the_end_of_an_answer_retire_the_connection(anyio_backend: str) -> None:
    def answer(exchange: Exchange) -> None:
        if exchange.index == 1:
            exchange.send(response(ACCOUNT) + b"HTTP/1.1 200 OK\r\n")  # and the start of another
        else:
            exchange.send(response(APPLIED))

    with raw_server(answer) as server:
        async with client_for(server.url) as client:
            await client.account()
            await client.subaccounts.add_credit("tok1", "25")
    assert [e.connection for e in server.requests] == [1, 2]


@pytest.mark.anyio
async def test_bytes_received_while_idle_retire_the_connection(anyio_backend: str) -> None:
    stale_sent = threading.Event()

    def answer(exchange: Exchange) -> None:
        if exchange.index == 1:
            exchange.send(response(ACCOUNT))
            exchange.send(response(REFUSED))  # later, unasked: while the connection is idle
            stale_sent.set()
        else:
            exchange.send(response(APPLIED))

    with raw_server(answer) as server:
        async with client_for(server.url) as client:
            await client.account()
            while not stale_sent.is_set():
                await anyio.sleep(0.01)
            await anyio.sleep(0.05)  # let the event loop take the bytes in
            transfer = await client.subaccounts.add_credit("tok1", "25")
    assert transfer.subaccount_balance == Decimal("61.8")
    assert [e.connection for e in server.requests] == [1, 2]


# -- 5. idle connections are not kept as long as servers keep theirs ---------------------------


def test_idle_connections_expire_well_before_common_server_timeouts() -> None:
    assert KEEPALIVE_EXPIRY <= 2.0  # Apache, uvicorn and Node close idle connections at 5 s


@pytest.mark.anyio
async def test_a_connection_idle_past_its_expiry_is_not_reused(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("smspartner_async._transport.KEEPALIVE_EXPIRY", 0.05)

    def answer(exchange: Exchange) -> None:
        exchange.send(response(ACCOUNT))

    with raw_server(answer) as server:
        http = make_http_client(timeout=httpx.Timeout(5.0), max_connections=4, transport=None)
        async with http:
            await http.get(server.url + "me")
            await http.get(server.url + "me")  # at once: the same connection
            await anyio.sleep(0.3)
            await http.get(server.url + "me")  # after the expiry: a new one
    assert [e.connection for e in server.requests] == [1, 1, 2]


# -- 6. a deadline per attempt -----------------------------------------------------------------


def drip_forever(exchange: Exchange) -> None:
    """Start an answer and send it one byte every 40 ms, never ending."""
    exchange.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    while True:
        exchange.send(b" ")
        time.sleep(0.04)


@pytest.mark.anyio
async def test_a_dripping_answer_ends_a_read_at_its_deadline(anyio_backend: str) -> None:
    with raw_server(drip_forever) as server:
        async with client_for(server.url, timeout=0.3, retry=sp.RetryPolicy(max_attempts=2)) as c:
            with anyio.fail_after(60):  # a guard: without a deadline the drip never ends
                with pytest.raises(sp.APITimeoutError):
                    await c.account()
    assert server.count == 2  # each attempt timed out, and was retried as a read is


@pytest.mark.anyio
async def test_a_dripping_answer_to_a_write_is_unknown_at_its_deadline(anyio_backend: str) -> None:
    with raw_server(drip_forever) as server:
        async with client_for(server.url, timeout=0.3) as client:
            with anyio.fail_after(60):
                with pytest.raises(sp.OutcomeUnknownError) as info:
                    await client.subaccounts.add_credit("tok1", "25")
    assert isinstance(info.value.__cause__, sp.APITimeoutError)
    assert server.count == 1


# -- 7. a bounded answer ------------------------------------------------------------------------


def endless_body(exchange: Exchange) -> None:
    """An answer that never ends, in chunks of 64 KiB."""
    exchange.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    while True:
        exchange.send(chunk)


def declared_too_large(exchange: Exchange) -> None:
    exchange.send(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n" + b"{" * 1024)


@pytest.mark.anyio
# Under trio, an answer abandoned before its end leaves httpcore's nested async generators (the
# pool's stream over the connection's body reader) suspended, and trio warns when they are
# collected: no public httpcore API closes the inner ones. The connection is closed all the same.
@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("answer", [endless_body, declared_too_large])
async def test_an_answer_past_the_size_limit_is_a_decode_error(
    anyio_backend: str, answer: Callable[[Exchange], None]
) -> None:
    with raw_server(answer) as server:
        async with client_for(server.url) as client:
            with anyio.fail_after(60):
                with pytest.raises(sp.DecodeError) as info:
                    await client.account()
    assert f"larger than {MAX_ANSWER_BYTES} bytes" in str(info.value)
    assert server.count == 1


@pytest.mark.anyio
# Under trio, an answer abandoned before its end leaves httpcore's nested async generators (the
# pool's stream over the connection's body reader) suspended, and trio warns when they are
# collected: no public httpcore API closes the inner ones. The connection is closed all the same.
@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_an_answer_past_the_size_limit_makes_a_write_unknown(anyio_backend: str) -> None:
    with raw_server(endless_body) as server:
        async with client_for(server.url) as client:
            with anyio.fail_after(60):
                with pytest.raises(sp.OutcomeUnknownError) as info:
                    await client.subaccounts.add_credit("tok1", "25")
    assert isinstance(info.value.__cause__, sp.DecodeError)


# -- 8. no garbage for the cyclic collector ------------------------------------------------------


@pytest.mark.anyio
async def test_a_call_leaves_no_reference_cycle_of_ours_or_httpxs(anyio_backend: str) -> None:
    """A cycle per call (httpx's client wraps a response's stream in one that refers back to
    the response) costs the cyclic collector more than the rest of the call's bookkeeping."""

    def answer(exchange: Exchange) -> None:
        exchange.send(response(ACCOUNT if exchange.method == "GET" else APPLIED))

    with raw_server(answer) as server:
        async with client_for(server.url) as client:
            await client.account()  # the connection, and first-use caches
            gc.collect()
            gc.disable()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for _ in range(5):
                    await client.account()
                    await client.subaccounts.add_credit("tok1", "25")
                gc.collect()
                cyclic = [type(o) for o in gc.garbage]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
    ours = [t for t in cyclic if t.__module__.split(".")[0] in ("httpx", "smspartner_async")]
    assert ours == []
