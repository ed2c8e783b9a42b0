"""Proxies: the standard environment and ``proxy=``, on both default transports.

A forward proxy on 127.0.0.1 relays plain-HTTP requests to the emulator served on 127.0.0.1,
one request per connection, and keeps what it received. Under asyncio the client sends through
its aiohttp transport, under trio through httpx's own: each test runs on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.abc
import httpx
import pytest
from _support import CANARY

import smspartner_async as sp
from smspartner_async._transport import (
    environment_proxy,  # pyright: ignore[reportPrivateUsage]
    request_not_sent,
)
from smspartner_async.testing import Emulator, served

END_OF_HEAD = b"\r\n\r\n"


class ForwardProxy:
    """Relays ``METHOD http://host:port/path HTTP/1.1`` to its origin; records each request."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            data = b""
            while END_OF_HEAD not in data:
                data += await client.receive()
            head, _, body = data.partition(END_OF_HEAD)
            lines = head.split(b"\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in lines
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length:
                body += await client.receive()
            self.received.append(data)
            method, target, version = lines[0].split(b" ")
            url = httpx.URL(target.decode())
            kept = [
                line
                for line in lines[1:]
                if not line.lower().startswith((b"connection:", b"proxy-"))
            ]
            relayed = b"\r\n".join(
                [method + b" " + url.raw_path + b" " + version, *kept, b"Connection: close"]
            )
            async with await anyio.connect_tcp(url.host, url.port or 80) as origin:
                await origin.send(relayed + END_OF_HEAD + body)
                try:
                    async for chunk in origin:
                        await client.send(chunk)
                except anyio.EndOfStream:
                    pass

    @property
    def targets(self) -> list[str]:
        return [data.split(b"\r\n")[0].decode() for data in self.received]


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[ForwardProxy, str]]:
    forward = ForwardProxy()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, forward.handle)
        yield forward, f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[Emulator, str]]:
    emu = Emulator()
    async with served(emu) as base_url:
        yield emu, base_url


pytestmark = pytest.mark.anyio


async def test_the_environment_proxy_carries_every_call(
    monkeypatch: pytest.MonkeyPatch,
    proxy: tuple[ForwardProxy, str],
    emulator: tuple[Emulator, str],
) -> None:
    forward, proxy_url = proxy
    emu, base_url = emulator
    [token] = emu.seed_subaccounts(1)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)  # the emulator is served over plain HTTP
    async with sp.AsyncSMSPartner(base_url=base_url) as client:
        await client.account()
        await client.subaccounts.add_credit(token, "2")
    assert forward.targets == [
        f"GET {base_url}me?apiKey={CANARY} HTTP/1.1",
        f"POST {base_url}subaccount/credit/add HTTP/1.1",
    ]
    assert [r.endpoint for r in emu.requests] == ["me", "subaccount/credit/add"]
    # The proxy sees what the API must see, and no more: the key in the GET's query and the
    # POST's body, never in a header of ours.
    for data in forward.received:
        head = data.split(b"\r\n\r\n")[0]
        assert CANARY.encode() not in b"\r\n".join(head.split(b"\r\n")[1:])


async def test_no_proxy_sends_directly(
    monkeypatch: pytest.MonkeyPatch,
    proxy: tuple[ForwardProxy, str],
    emulator: tuple[Emulator, str],
) -> None:
    forward, proxy_url = proxy
    emu, base_url = emulator
    monkeypatch.setenv("ALL_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "example.com, 127.0.0.1")
    async with sp.AsyncSMSPartner(base_url=base_url) as client:
        await client.account()
    assert forward.received == []
    assert len(emu.requests) == 1


async def test_an_explicit_proxy_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    proxy: tuple[ForwardProxy, str],
    emulator: tuple[Emulator, str],
) -> None:
    forward, proxy_url = proxy
    emu, base_url = emulator
    monkeypatch.setenv("NO_PROXY", "*")
    async with sp.AsyncSMSPartner(base_url=base_url, proxy=proxy_url) as client:
        await client.subaccounts.list_page()
    assert forward.targets == [f"GET {base_url}subaccount/list?apiKey={CANARY}&page=1 HTTP/1.1"]
    assert len(emu.requests) == 1


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({}, "https://api.smspartner.fr/v1/", None),
        ({"HTTPS_PROXY": "http://p:3128"}, "https://api.smspartner.fr/v1/", "http://p:3128"),
        ({"https_proxy": "http://p:3128"}, "https://api.smspartner.fr/v1/", "http://p:3128"),
        ({"HTTP_PROXY": "http://p:3128"}, "https://api.smspartner.fr/v1/", None),
        ({"ALL_PROXY": "http://all:1"}, "https://api.smspartner.fr/v1/", "http://all:1"),
        ({"HTTPS_PROXY": "http://p:1", "ALL_PROXY": "http://all:1"}, "https://a.fr/", "http://p:1"),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "smspartner.fr"},
            "https://api.smspartner.fr/",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".smspartner.fr"},
            "https://api.smspartner.fr/",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "partner.fr"},
            "https://api.smspartner.fr/",
            "http://p:1",
        ),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "https://api.smspartner.fr/", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.fr:443"}, "https://a.fr/", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.fr:8443"}, "https://a.fr/", "http://p:1"),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "[::1]:8000"}, "http://[::1]:8000/", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "::1"}, "http://[::1]:8000/", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "localhost"}, "http://[::1]:8000/", "http://p:1"),
    ],
)
def test_the_environment_names_the_proxy(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    found = environment_proxy(httpx.URL(url))
    assert (found[0] if found else None) == expected


@pytest.mark.parametrize(
    "proxy",
    [
        "ftp://user:secret@p:21",
        "socks5://user:secret@p:1080",
        "user:secret@p:3128",
        "http://user:secret@",
    ],
)
def test_a_bad_proxy_is_refused_without_echoing_it(proxy: str) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(proxy=proxy)
    assert info.value.field == "proxy"
    assert "secret" not in str(info.value)


def test_a_bad_environment_proxy_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://p:1080")
    with pytest.raises(sp.ValidationError, match="HTTPS_PROXY") as info:
        sp.AsyncSMSPartner()
    assert info.value.field == "HTTPS_PROXY"
    # A transport of the caller's own decides for itself: the environment is not read.
    sp.AsyncSMSPartner(transport=httpx.MockTransport(lambda r: httpx.Response(200)))


@pytest.mark.parametrize(
    "kwargs",
    [{"http_client": "client"}, {"transport": httpx.MockTransport(lambda r: httpx.Response(200))}],
)
async def test_proxy_is_for_the_clients_own_transport(kwargs: dict[str, object]) -> None:
    async with httpx.AsyncClient() as http:
        given = {k: http if v == "client" else v for k, v in kwargs.items()}
        with pytest.raises(sp.ValidationError) as info:
            sp.AsyncSMSPartner(proxy="http://127.0.0.1:3128", **given)  # type: ignore[arg-type]
    assert info.value.field == "proxy"


def test_a_refused_tunnel_was_never_sent() -> None:
    assert request_not_sent(httpx.ProxyError("407 Proxy Authentication Required"))
