"""The key goes to the API and nowhere else, and nothing the caller can read shows it.

A raw socket server on 127.0.0.1 misbehaves in one way per test: it redirects every request
elsewhere with the key in ``Location``, or it reads the request and hangs up. Each call goes
through the client's own HTTP client and through a caller's ``httpx.AsyncClient`` built with
``follow_redirects=True``; the secret canary (see ``_canary.py``) watches every log line at
DEBUG, every error's text, its cause chain and its traceback's locals on top of what each test
asserts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from _canary import traceback_locals
from _support import ALL_CALLS, CANARY, READS, Call
from anyio.abc import SocketAttribute, SocketStream

import smspartner_async as sp

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff")]

Answer = Callable[[bytes], bytes | None]


async def _read_request(stream: SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
    return head + b"\r\n\r\n" + body


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[tuple[str, list[bytes]]]:
    """Serve ``answer(request) -> bytes to send, or None to hang up``; yield the base URL and
    the requests received."""
    received: list[bytes] = []

    async def serve(stream: SocketStream) -> None:
        async with stream:
            try:
                while True:
                    request = await _read_request(stream)
                    received.append(request)
                    reply = answer(request)
                    if reply is None:
                        return
                    await stream.send(reply)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}/v1/", received
        tg.cancel_scope.cancel()


def redirect_with_the_key(request: bytes) -> bytes:
    """307 to another path (the same server, so a followed redirect would be counted), with
    the key in the query: what a hostile or misconfigured proxy does."""
    location = f"/steal?apiKey={CANARY}&echo={CANARY}"
    return (
        "HTTP/1.1 307 Temporary Redirect\r\n"
        f"Location: {location}\r\nX-Echo: {CANARY}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def hang_up(request: bytes) -> None:
    return None


@asynccontextmanager
async def client_for(
    base_url: str, *, callers: bool, max_attempts: int = 1
) -> AsyncIterator[sp.AsyncSMSPartner]:
    retry = sp.RetryPolicy(max_attempts=max_attempts)
    if not callers:
        async with sp.AsyncSMSPartner(api_key=CANARY, base_url=base_url, retry=retry) as client:
            yield client
        return
    # A common application setting: the caller's client follows redirects.
    async with (
        httpx.AsyncClient(follow_redirects=True) as http,
        sp.AsyncSMSPartner(
            api_key=CANARY, base_url=base_url, retry=retry, http_client=http
        ) as client,
    ):
        yield client


def assert_nothing_shows_the_key(error: BaseException) -> None:
    current: BaseException | None = error
    while current is not None:
        assert CANARY not in f"{current}{current!r}"
        request = getattr(current, "_request", None)
        if isinstance(current, httpx.RequestError) and request is not None:
            assert CANARY not in repr(current.request)
            assert CANARY not in str(current.request.url)
            assert CANARY.encode() not in current.request.content
        current = current.__cause__ or current.__context__
    assert CANARY not in traceback_locals(error)


@pytest.mark.parametrize("callers", [False, True], ids=["own-client", "callers-client"])
@pytest.mark.parametrize("endpoint", list(ALL_CALLS))
async def test_a_redirect_is_never_followed(endpoint: str, callers: bool) -> None:
    call: Call = ALL_CALLS[endpoint]
    async with (
        raw_server(redirect_with_the_key) as (base_url, received),
        client_for(base_url, callers=callers) as client,
    ):
        with pytest.raises(sp.SMSPartnerError) as info:
            await call(client)
    assert len(received) == 1, "one request, to the API, and none to where it redirects"
    assert received[0].split(b" ")[1].startswith(b"/v1/")
    assert_nothing_shows_the_key(info.value)


@pytest.mark.parametrize("callers", [False, True], ids=["own-client", "callers-client"])
@pytest.mark.parametrize("endpoint", list(ALL_CALLS))
async def test_a_failed_call_shows_the_key_nowhere(endpoint: str, callers: bool) -> None:
    # A read that failed is a connection error; a write, an unknown outcome.
    expected = sp.APIConnectionError if endpoint in READS else sp.OutcomeUnknownError
    async with (
        raw_server(hang_up) as (base_url, received),
        client_for(base_url, callers=callers, max_attempts=2) as client,
    ):
        with pytest.raises(expected) as info:
            await ALL_CALLS[endpoint](client)
    assert received
    if endpoint in READS:  # the key travels in a read's query: the cause's request masks it
        cause = info.value.__cause__
        assert isinstance(cause, httpx.TransportError)
        assert "apiKey=***" in str(cause.request.url)
    assert_nothing_shows_the_key(info.value)
