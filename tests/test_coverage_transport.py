"""The transport under the client: which one is picked, and what its failures mean for a retry.

An aiohttp failure must reach the pipeline as the httpx error that says truthfully whether the
request may have left: only a failure to connect proves it never did.
"""

from __future__ import annotations

import socket
import sys
from datetime import timedelta

import aiohttp
import httpx
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from smspartner_async._aiohttp import AiohttpTransport, _mapped  # pyright: ignore[reportPrivateUsage]
from smspartner_async._httpcore import HttpcoreTransport
from smspartner_async._transport import default_transport, request_not_sent

REQUEST = httpx.Request("POST", "https://api.smspartner.test/v1/subaccount/credit/add")


@pytest.mark.anyio
async def test_without_the_aiohttp_extra_httpx_own_pool_is_used(
    monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "smspartner_async._aiohttp", None)
    transport = default_transport(5, None)
    async with transport:
        assert type(transport) is HttpcoreTransport


@pytest.mark.anyio
async def test_on_asyncio_with_the_extra_aiohttp_sends(anyio_backend: str) -> None:
    transport = default_transport(5, None)
    async with transport:
        expected = AiohttpTransport if anyio_backend == "asyncio" else HttpcoreTransport
        assert type(transport) is expected


@pytest.mark.parametrize(
    ("failure", "mapped", "not_sent"),
    [
        (
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                OSError(111, "refused"),
            ),
            httpx.ConnectError,
            True,
        ),
        (aiohttp.ConnectionTimeoutError("connect timed out"), httpx.ConnectTimeout, True),
        (
            aiohttp.ClientHttpProxyError(
                aiohttp.RequestInfo(
                    URL("http://p:3128"), "CONNECT", CIMultiDictProxy(CIMultiDict())
                ),
                (),
                status=407,
                message="Proxy Authentication Required",
            ),
            httpx.ProxyError,
            True,
        ),
        (aiohttp.SocketTimeoutError("read timed out"), httpx.ReadTimeout, False),
        (TimeoutError("read timed out"), httpx.ReadTimeout, False),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, False),
        (aiohttp.ClientPayloadError("truncated"), httpx.ReadError, False),
        (aiohttp.ClientOSError(104, "reset"), httpx.RemoteProtocolError, False),
    ],
)
def test_aiohttp_failures_map_to_what_they_mean(
    failure: BaseException, mapped: type[httpx.TransportError], not_sent: bool
) -> None:
    remapped = _mapped(failure, REQUEST)
    assert type(remapped) is mapped
    assert remapped.request is REQUEST
    assert request_not_sent(remapped) is not_sent
    assert str(remapped)  # never an empty message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # aiohttp runs on asyncio only
@pytest.mark.anyio
async def test_a_refused_connection_is_reported_never_sent(anyio_backend: str) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1/subaccount/credit/add"
    transport = AiohttpTransport(httpx.Limits(max_connections=2))
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.post(url, json={"credit": "1"})
    assert request_not_sent(caught.value)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_cookies_live_in_httpx_only(anyio_backend: str) -> None:
    """A cookie the caller cleared from httpx is not sent again from a jar inside aiohttp."""
    cookies_seen: list[list[str]] = []

    async def handler(request: web.Request) -> web.Response:
        cookies_seen.append(request.headers.getall("Cookie", []))
        answer = web.json_response({"success": True})
        answer.set_cookie("sid", "abc")
        return answer

    app = web.Application()
    app.router.add_get("/v1/me", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://localhost:{port}/v1/me"  # a host name: aiohttp's jar skips bare IPs
        transport = AiohttpTransport(httpx.Limits(max_connections=2))
        async with httpx.AsyncClient(transport=transport) as http:
            await http.get(url)
            await http.get(url)
            http.cookies.clear()
            await http.get(url)
    finally:
        await runner.cleanup()
    assert cookies_seen == [[], ["sid=abc"], []]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_answers_carry_their_elapsed_time(anyio_backend: str) -> None:
    """``response.elapsed`` reads as with httpx's own transport, in a hook and after the call."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"success": True})

    app = web.Application()
    app.router.add_get("/v1/me", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    seen: list[timedelta] = []

    async def on_response(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response.elapsed)

    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/me"
        transport = AiohttpTransport(httpx.Limits(max_connections=2))
        hooks = {"response": [on_response]}
        async with httpx.AsyncClient(transport=transport, event_hooks=hooks) as http:
            response = await http.get(url)
    finally:
        await runner.cleanup()
    assert response.elapsed >= timedelta(0)
    assert seen == [response.elapsed]
