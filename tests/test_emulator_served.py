"""The emulator behind a real uvicorn on 127.0.0.1, reached by a real httpx client.

uvicorn runs on its own asyncio loop in a background thread, so these tests run under trio too.
"""

from __future__ import annotations

import socket
import sys
from decimal import Decimal

import anyio
import httpx
import pytest

from smspartner_async.testing import Emulator, Fault, serve, served

pytestmark = pytest.mark.anyio


def _credit(emu: Emulator, token: str, amount: str) -> dict[str, str]:
    return {"apiKey": emu.api_key, "credit": amount, "tokenSubaccount": token}


async def test_served_answers_and_faults() -> None:
    emu = Emulator()
    [token] = emu.seed_subaccounts(1)
    async with served(emu, port=0) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1/")
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            me = await client.get("me", params={"apiKey": emu.api_key})
            assert me.json()["credits"]["balance"] == "10000.000"
            added = await client.post("subaccount/credit/add", json=_credit(emu, token, "2.5"))
            assert added.json()["subaccountCredit"] == 2.5

            emu.inject(Fault.status(429, retry_after=3))
            limited = await client.get("me", params={"apiKey": emu.api_key})
            assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")

            emu.inject(Fault.html(504))
            page = await client.get("me", params={"apiKey": emu.api_key})
            assert (page.status_code, page.headers["content-type"]) == (
                504,
                "text/html; charset=utf-8",
            )

            deleted = await client.request(
                "DELETE", "subaccount/remove", json={"apiKey": emu.api_key, "token": token}
            )
            assert deleted.json() == {"success": True, "code": 200}
    assert emu.total_money() == 10_000


@pytest.mark.parametrize("fault", [Fault.drop(), Fault.refuse()])
async def test_served_drop_really_drops_the_connection(fault: Fault) -> None:
    emu = Emulator()
    [token] = emu.seed_subaccounts(1)
    emu.inject(fault)
    async with (
        served(emu, port=0) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=5) as client,
    ):
        # A dropped connection, not an HTTP 500 from uvicorn.
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("subaccount/credit/add", json=_credit(emu, token, "1"))
        # The server is still up, and nothing was applied.
        assert (await client.get("me", params={"apiKey": emu.api_key})).status_code == 200
    assert emu.balance(token) == 0


async def test_served_apply_then_drop() -> None:
    emu = Emulator()
    [token] = emu.seed_subaccounts(1)
    emu.inject(Fault.apply_then_drop())
    async with (
        served(emu, port=0) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=5) as client,
    ):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("subaccount/credit/add", json=_credit(emu, token, "1"))
    assert emu.balance(token) == 1


async def test_served_apply_then_stall_times_out_after_applying() -> None:
    emu = Emulator()
    [token] = emu.seed_subaccounts(1)
    emu.inject(Fault.apply_then_stall(30))
    async with (
        served(emu, port=0) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=0.2) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.post("subaccount/credit/add", json=_credit(emu, token, "4"))
    # The stalled handler noticed the client leaving, so the server stopped promptly.
    assert emu.balance(token) == 4


async def test_served_port_in_use() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError):  # noqa: PT011 - the errno text varies by platform
            async with served(Emulator(), port=port):
                pass


async def test_serve_runs_until_cancelled() -> None:
    emu = Emulator(main_balance=Decimal("3"))
    urls: list[str] = []
    async with anyio.create_task_group() as group:
        ready = anyio.Event()

        def on_ready(url: str) -> None:
            urls.append(url)
            ready.set()

        group.start_soon(lambda: serve(emu, port=0, on_ready=on_ready))
        await ready.wait()
        async with httpx.AsyncClient(base_url=urls[0], timeout=5) as client:
            answer = await client.get("me", params={"apiKey": emu.api_key})
        group.cancel_scope.cancel()
    assert answer.json()["credits"]["solde"] == "3.000"
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=urls[0], timeout=5) as client:
            await client.get("me")


async def test_missing_uvicorn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ModuleNotFoundError, match=r"smspartner-async\[emulator\]"):
        async with served(Emulator()):
            pass
