"""examples/aiohttp_app.py, driven through aiohttp's test client with the emulator behind it."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import smspartner_async as sp
from smspartner_async.testing import Emulator, Fault

# aiohttp runs on asyncio only (its server and test client need an asyncio loop), so these
# tests override the conftest's asyncio + trio parametrization. The library's trio support is
# covered by every other test module, the FastAPI example's included.
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NO_WAIT = sp.RetryPolicy(initial_delay=0, max_delay=0, jitter=False)


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = load_example("aiohttp_app")


@asynccontextmanager
async def serving(factory: Callable[[], sp.AsyncSMSPartner]) -> AsyncIterator[TestClient[Any, Any]]:
    """The app on a loopback port, its cleanup context run on the way in and out."""
    app = example.create_app(factory)
    async with TestClient(TestServer(app)) as http:
        client = app[example.CLIENT]
        assert not client.is_closed
        yield http
    assert client.is_closed


def against(emulator: Emulator, **kwargs: Any) -> Callable[[], sp.AsyncSMSPartner]:
    kwargs.setdefault("retry", NO_WAIT)
    return lambda: emulator.client(**kwargs)


async def test_streams_every_subaccount_in_order_without_keys() -> None:
    emulator = Emulator()
    tokens = emulator.seed_subaccounts(45, balance="1.5")
    async with serving(against(emulator)) as http:
        answer = await http.get("/subaccounts")
        text = await answer.text()
    assert answer.status == 200
    assert answer.content_type == "application/x-ndjson"
    rows = [json.loads(line) for line in text.splitlines()]
    assert [row["token"] for row in rows] == tokens
    assert {row["balance"] for row in rows} == {"1.500"}
    assert "apiKey" not in text
    assert "api_key" not in text


async def test_a_failure_on_the_first_page_gets_a_status() -> None:
    async with serving(against(Emulator(), api_key="not-the-key")) as http:
        answer = await http.get("/subaccounts")
        body = await answer.json()
    assert answer.status == 502
    assert body["error"]["type"] == "AuthenticationError"
    assert "not-the-key" not in json.dumps(body)


async def test_one_page() -> None:
    emulator = Emulator()
    emulator.seed_subaccounts(45)
    async with serving(against(emulator)) as http:
        answer = await http.get("/subaccounts/pages/2")
        page = await answer.json()
        refused = await http.get("/subaccounts/pages/0")
        refusal = await refused.json()
    assert answer.status == 200
    assert (page["total"], page["page"], len(page["items"])) == (45, 2, 20)
    assert refused.status == 422
    assert refusal["error"]["field"] == "page"


async def test_bulk_top_up_reports_every_outcome() -> None:
    emulator = Emulator(main_balance="100")
    first, second = emulator.seed_subaccounts(2)
    emulator.inject(Fault.apply_then_drop(), endpoint="subaccount/credit/add")
    amounts = {first: "5", "no-such-token": "1", second: "2.5"}
    async with serving(against(emulator)) as http:
        answer = await http.post("/subaccounts/credit", json={"amounts": amounts, "concurrency": 1})
        body = await answer.json()
    assert answer.status == 207
    assert [r["status"] for r in body["results"]] == ["unknown", "failed", "applied"]
    assert body["results"][1]["error"]["type"] == "NotFoundError"
    assert (body["applied_amount"], body["unknown_amount"]) == ("2.5", "5")
    assert emulator.balance(first) == Decimal(5)


async def test_bulk_top_up_refuses_bad_input_before_sending() -> None:
    emulator = Emulator()
    [token] = emulator.seed_subaccounts(1)
    async with serving(against(emulator)) as http:
        bad_amount = await http.post("/subaccounts/credit", json={"amounts": {token: "-1"}})
        not_a_map = await http.post("/subaccounts/credit", json={"amounts": [token]})
        not_json = await http.post("/subaccounts/credit", data=b"{")
        refusal = await bad_amount.json()
    assert bad_amount.status == 422
    assert refusal["error"]["type"] == "ValidationError"
    assert not_a_map.status == 422
    assert not_json.status == 422
    assert emulator.requests == []


async def test_single_top_up_and_its_error_statuses() -> None:
    emulator = Emulator(main_balance="10")
    [token] = emulator.seed_subaccounts(1)
    emulator.inject(Fault.apply_then_drop(), endpoint="subaccount/credit/add")
    async with serving(against(emulator)) as http:
        lost = await http.post(f"/subaccounts/{token}/credit", json={"amount": "1"})
        ok = await http.post(f"/subaccounts/{token}/credit", json={"amount": "2.5"})
        missing = await http.post("/subaccounts/nope/credit", json={"amount": "1"})
        short = await http.post(f"/subaccounts/{token}/credit", json={"amount": "100"})
        answers = [await r.json() for r in (lost, ok, missing, short)]
    assert [r.status for r in (lost, ok, missing, short)] == [502, 200, 404, 409]
    assert answers[0]["error"]["outcome"] == "unknown"
    assert answers[1]["subaccount_balance"] == "3.5"
    assert emulator.balance(token) == Decimal("3.5")


async def test_rate_limit_and_unreachable_api() -> None:
    emulator = Emulator()
    emulator.inject(Fault.status(429, retry_after=120), endpoint="me")
    emulator.inject(Fault.refuse(), endpoint="me", times=4)
    async with serving(against(emulator)) as http:
        limited = await http.get("/account")
        unreachable = await http.get("/account")
        fine = await http.get("/account")
        balance = (await fine.json())["balance"]
    assert (limited.status, limited.headers["Retry-After"]) == (429, "120")
    assert unreachable.status == 503
    assert (fine.status, balance) == (200, "10000.000")
