"""examples/fastapi_app.py, driven through httpx.ASGITransport with the emulator behind it."""

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

import httpx
import pytest

import smspartner_async as sp
from smspartner_async.testing import Emulator, EmulatorTransport, Fault, served

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NO_WAIT = sp.RetryPolicy(initial_delay=0, max_delay=0, jitter=False)
NO_RETRY = sp.RetryPolicy(max_attempts=1)


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = load_example("fastapi_app")


@asynccontextmanager
async def serving(factory: Callable[[], sp.AsyncSMSPartner]) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running (ASGITransport alone does not run it)."""
    app = example.create_app(factory)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
            yield http
    assert app.state.smspartner.is_closed


def against(emulator: Emulator, **kwargs: Any) -> Callable[[], sp.AsyncSMSPartner]:
    kwargs.setdefault("retry", NO_WAIT)
    return lambda: emulator.client(**kwargs)


async def test_importing_the_module_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # `app = create_app()` at import must not build a client: the key is read at start-up.
    monkeypatch.delenv("SMSPARTNER_API_KEY", raising=False)
    assert load_example("fastapi_app").app.title == "Sub-accounts"


async def test_the_environment_points_the_app_at_a_served_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The app as deployed (`uvicorn examples.fastapi_app:app`): no factory, only variables.
    emulator = Emulator(main_balance="42.5")
    emulator.seed_subaccounts(3)
    async with served(emulator) as base_url:
        monkeypatch.setenv("SMSPARTNER_BASE_URL", base_url)
        monkeypatch.setenv("SMSPARTNER_API_KEY", emulator.api_key)
        async with serving(sp.AsyncSMSPartner) as http:
            account = await http.get("/account")
            page = await http.get("/subaccounts/pages/1")
    assert account.json()["balance"] == "42.500"
    assert page.json()["total"] == 3
    assert [(r.method, r.endpoint) for r in emulator.requests] == [
        ("GET", "me"),
        ("GET", "subaccount/list"),
    ]


async def test_streams_every_subaccount_in_order_without_keys() -> None:
    emulator = Emulator()
    tokens = emulator.seed_subaccounts(45, balance="1.5")
    async with serving(against(emulator)) as http:
        answer = await http.get("/subaccounts")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in answer.text.splitlines()]
    assert [row["token"] for row in rows] == tokens
    assert {row["balance"] for row in rows} == {"1.500"}  # as the API wrote it, not a float
    assert "apiKey" not in answer.text
    assert "api_key" not in answer.text
    assert sorted(r.query["page"] for r in emulator.requests) == ["1", "2", "3"]


async def test_an_empty_list_streams_nothing() -> None:
    async with serving(against(Emulator())) as http:
        answer = await http.get("/subaccounts")
    assert answer.status_code == 200
    assert answer.text == ""


async def test_a_failure_on_the_first_page_gets_a_status() -> None:
    emulator = Emulator()
    async with serving(against(emulator, api_key="not-the-key")) as http:
        answer = await http.get("/subaccounts")
    assert answer.status_code == 502
    assert answer.json()["error"]["type"] == "AuthenticationError"
    assert "not-the-key" not in answer.text


class FailPage(httpx.AsyncBaseTransport):
    """The emulator, except that one page of the list answers HTTP 500."""

    def __init__(self, emulator: Emulator, page: str) -> None:
        self._inner = EmulatorTransport(emulator)
        self._page = page

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == self._page:
            return httpx.Response(500, json={"success": False, "code": 500})
        return await self._inner.handle_async_request(request)


async def test_a_failure_mid_stream_ends_it_with_an_error_line() -> None:
    emulator = Emulator()
    emulator.seed_subaccounts(45)

    def factory() -> sp.AsyncSMSPartner:
        return sp.AsyncSMSPartner(
            api_key=emulator.api_key,
            base_url="https://emulator.invalid/v1/",
            transport=FailPage(emulator, "2"),
            retry=NO_RETRY,
        )

    async with serving(factory) as http:
        answer = await http.get("/subaccounts")
    assert answer.status_code == 200
    *rows, last = [json.loads(line) for line in answer.text.splitlines()]
    assert len(rows) == 20
    assert last["error"]["type"] == "ServerError"


async def test_one_page() -> None:
    emulator = Emulator()
    emulator.seed_subaccounts(45)
    async with serving(against(emulator)) as http:
        answer = await http.get("/subaccounts/pages/3")
        refused = await http.get("/subaccounts/pages/0")
    assert answer.status_code == 200
    page = answer.json()
    assert (page["total"], page["per_page"], page["page"]) == (45, 20, 3)
    assert [row["id"] for row in page["items"]] == list(range(41, 46))
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "type": "ValidationError",
        "message": "page must be an integer from 1 to 1000000, got 0",
        "field": "page",
    }
    assert len(emulator.requests) == 1  # the refused page never left


async def test_bulk_top_up_reports_every_outcome() -> None:
    emulator = Emulator(main_balance="100")
    first, second, third = emulator.seed_subaccounts(3)
    emulator.inject(Fault.apply_then_drop(), endpoint="subaccount/credit/add")
    amounts = {first: "5", second: "2.5", "no-such-token": "1", third: "1.25"}
    async with serving(against(emulator)) as http:
        answer = await http.post("/subaccounts/credit", json={"amounts": amounts, "concurrency": 1})
    assert answer.status_code == 207
    body = answer.json()
    assert [(r["token"], r["status"]) for r in body["results"]] == [
        (first, "unknown"),
        (second, "applied"),
        ("no-such-token", "failed"),
        (third, "applied"),
    ]
    assert body["results"][0]["error"]["type"] == "OutcomeUnknownError"
    assert body["results"][1]["subaccount_balance"] == "2.5"
    assert body["results"][2]["error"]["type"] == "NotFoundError"
    assert (body["applied"], body["failed"], body["unknown"]) == (2, 1, 1)
    assert (body["applied_amount"], body["unknown_amount"]) == ("3.75", "5")
    # The unknown one was in fact applied, and only once.
    assert emulator.balance(first) == Decimal(5)
    assert emulator.total_money() == Decimal(100)


async def test_bulk_top_up_all_applied() -> None:
    emulator = Emulator()
    tokens = emulator.seed_subaccounts(30)
    async with serving(against(emulator)) as http:
        answer = await http.post("/subaccounts/credit", json={"amounts": dict.fromkeys(tokens, 2)})
    assert answer.status_code == 200
    assert answer.json()["ok"] is True
    assert all(emulator.balance(token) == 2 for token in tokens)


async def test_bulk_top_up_refuses_a_bad_amount_before_sending() -> None:
    emulator = Emulator()
    [token] = emulator.seed_subaccounts(1)
    async with serving(against(emulator)) as http:
        refused = await http.post("/subaccounts/credit", json={"amounts": {token: "0.0001"}})
        malformed = await http.post("/subaccounts/credit", json={"amounts": [token]})
    assert refused.status_code == 422
    assert refused.json()["error"]["type"] == "ValidationError"
    assert malformed.status_code == 422  # FastAPI's own validation of the body
    assert emulator.requests == []


async def test_single_top_up_and_its_error_statuses() -> None:
    emulator = Emulator(main_balance="10")
    [token] = emulator.seed_subaccounts(1)
    async with serving(against(emulator)) as http:
        ok = await http.post(f"/subaccounts/{token}/credit", json={"amount": "2.5"})
        missing = await http.post("/subaccounts/nope/credit", json={"amount": "1"})
        short = await http.post(f"/subaccounts/{token}/credit", json={"amount": "100"})
    assert ok.status_code == 200
    assert ok.json() == {
        "account_balance": "7.5",
        "subaccount_balance": "2.5",
        "currency": "EUR",
    }
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NotFoundError"
    assert short.status_code == 409
    assert short.json()["error"]["type"] == "InsufficientCreditError"


async def test_lost_answers_say_the_outcome_is_unknown() -> None:
    emulator = Emulator()
    [token] = emulator.seed_subaccounts(1)
    emulator.inject(Fault.apply_then_drop(), endpoint="subaccount/credit/add")
    emulator.inject(Fault.apply_then_stall(5), endpoint="subaccount/credit/add")
    async with serving(against(emulator, timeout=0.05)) as http:
        dropped = await http.post(f"/subaccounts/{token}/credit", json={"amount": "1"})
        stalled = await http.post(f"/subaccounts/{token}/credit", json={"amount": "1"})
    assert dropped.status_code == 502
    assert stalled.status_code == 504
    for answer in (dropped, stalled):
        error = answer.json()["error"]
        assert error["type"] == "OutcomeUnknownError"
        assert error["outcome"] == "unknown"
    assert emulator.balance(token) == 2  # both were applied, neither retried
    assert len(emulator.requests) == 2


async def test_rate_limit_passes_retry_after_on() -> None:
    emulator = Emulator()
    # Longer than the client will sleep through: it gives up at once.
    emulator.inject(Fault.status(429, retry_after=120), endpoint="me")
    async with serving(against(emulator)) as http:
        limited = await http.get("/account")
        fine = await http.get("/account")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "120"
    assert limited.json()["error"]["type"] == "RateLimitError"
    assert fine.status_code == 200
    assert fine.json()["balance"] == "10000.000"


async def test_an_unreachable_api_is_503() -> None:
    emulator = Emulator()
    emulator.inject(Fault.refuse(), endpoint="me", times=4)
    async with serving(against(emulator)) as http:
        answer = await http.get("/account")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["type"] == "APIConnectionError"
