"""AsyncSMSPartner: construction, lifecycle, and every endpoint's request and parsed answer."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime
from decimal import Decimal

import anyio
import httpx
import pytest
from _canary import traceback_locals
from _support import (
    BASE_URL,
    CANARY,
    SUB_CANARY,
    Server,
    answer_for,
    body_of,
    ok,
    page_answer,
)

import smspartner_async as sp

pytestmark = pytest.mark.usefixtures("no_backoff")


# -- construction -------------------------------------------------------------------------------


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPARTNER_API_KEY", CANARY)
    client = sp.AsyncSMSPartner()
    assert client.base_url == "https://api.smspartner.fr/v1/"


@pytest.mark.anyio
async def test_environment_key_is_the_one_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPARTNER_API_KEY", "from-the-env")
    server = Server(answer_for)
    async with server.client(api_key=None) as client:
        await client.account()
    assert server.requests[0].url.params["apiKey"] == "from-the-env"


@pytest.mark.anyio
async def test_explicit_key_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPARTNER_API_KEY", "from-the-env")
    server = Server(answer_for)
    async with server.client(api_key=CANARY) as client:
        await client.account()
    assert server.requests[0].url.params["apiKey"] == CANARY


@pytest.mark.parametrize("key", [None, ""])
def test_no_key_at_all_names_the_variable(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    monkeypatch.delenv("SMSPARTNER_API_KEY", raising=False)
    with pytest.raises(sp.SMSPartnerError, match="SMSPARTNER_API_KEY"):
        sp.AsyncSMSPartner(api_key=key)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.smspartner.fr/v1/", "https://api.smspartner.fr/v1/"),
        ("https://api.smspartner.fr/v1", "https://api.smspartner.fr/v1/"),
        ("https://proxy.example.com/sms/v1?x=1#frag", "https://proxy.example.com/sms/v1/"),
        ("http://localhost:8080/v1/", "http://localhost:8080/v1/"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
        ("http://[::1]:9000/v1/", "http://[::1]:9000/v1/"),
    ],
)
def test_base_url_is_normalised(given: str, expected: str) -> None:
    assert sp.AsyncSMSPartner(api_key=CANARY, base_url=given).base_url == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://api.smspartner.fr/v1/",  # plain HTTP off this machine
        "http://10.0.0.1/v1/",
        "ftp://api.smspartner.fr/",
        "api.smspartner.fr/v1/",
        "",
        "https://exa mple.com/v1/",  # httpx would percent-encode the space into the host
        "https://example.com:99999/v1/",
        "https:///v1/",
        "http://[::1",
    ],
)
def test_base_url_must_be_https(url: str) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(api_key=CANARY, base_url=url)
    assert info.value.field == "base_url"


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPARTNER_BASE_URL", "http://127.0.0.1:8000/v1")
    assert sp.AsyncSMSPartner(api_key=CANARY).base_url == "http://127.0.0.1:8000/v1/"
    # An explicit base_url wins; an empty variable is no variable.
    explicit = sp.AsyncSMSPartner(api_key=CANARY, base_url="https://example.com/v1/")
    assert explicit.base_url == "https://example.com/v1/"
    monkeypatch.setenv("SMSPARTNER_BASE_URL", "")
    assert sp.AsyncSMSPartner(api_key=CANARY).base_url == "https://api.smspartner.fr/v1/"


@pytest.mark.parametrize("url", ["http://api.smspartner.fr/v1/", "not a url"])
def test_a_bad_base_url_variable_is_named(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SMSPARTNER_BASE_URL", url)
    with pytest.raises(sp.ValidationError, match="SMSPARTNER_BASE_URL") as info:
        sp.AsyncSMSPartner(api_key=CANARY)
    assert info.value.field == "SMSPARTNER_BASE_URL"


@pytest.mark.anyio
async def test_requests_go_under_the_base_url() -> None:
    server = Server(answer_for)
    async with server.client(base_url="https://proxy.example.com/sms/v1") as client:
        await client.subaccounts.list_page()
        await client.subaccounts.delete("tok")
    assert [str(r.url.copy_with(query=None)) for r in server.requests] == [
        "https://proxy.example.com/sms/v1/subaccount/list",
        "https://proxy.example.com/sms/v1/subaccount/delete",
    ]


def test_http_client_and_transport_are_exclusive() -> None:
    http = httpx.AsyncClient()
    with pytest.raises(sp.ValidationError):
        sp.AsyncSMSPartner(api_key=CANARY, http_client=http, transport=httpx.MockTransport(ok))


@pytest.mark.parametrize("value", [0, -1, True, 2.5])
def test_max_connections_is_checked(value: object) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(api_key=CANARY, max_connections=value)  # type: ignore[arg-type]
    assert info.value.field == "max_connections"


def test_retry_policy_defaults() -> None:
    client = sp.AsyncSMSPartner(api_key=CANARY)
    assert client.retry == sp.RetryPolicy(
        max_attempts=4, initial_delay=0.5, max_delay=8.0, jitter=True
    )
    policy = sp.RetryPolicy(max_attempts=2)
    assert sp.AsyncSMSPartner(api_key=CANARY, retry=policy).retry is policy


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"max_attempts": 2.5},
        {"max_attempts": "3"},
        {"initial_delay": -1},
        {"initial_delay": math.nan},
        {"initial_delay": 1e300},
        {"initial_delay": "1"},
        {"max_delay": -1},
        {"max_delay": math.inf, "initial_delay": 3000},
        {"max_delay": 10**400},
        {"jitter": 1},
        {"on_retry": "log"},
    ],
)
def test_retry_policy_refuses_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.RetryPolicy(**kwargs)  # type: ignore[arg-type]
    field = next(iter(kwargs))
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, 10**400, "10", -1, 0, 0.0, True, 3601])
def test_timeout_is_checked_when_the_client_is_made(value: object) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(api_key=CANARY, timeout=value)  # type: ignore[arg-type]
    assert info.value.field == "timeout"
    assert "timeout must be a number of seconds" in str(info.value)


@pytest.mark.parametrize(
    ("timeout", "phase"),
    [
        (httpx.Timeout(10.0, read=None), "read"),
        (httpx.Timeout(10.0, connect=math.nan), "connect"),
        (httpx.Timeout(10.0, write=-1), "write"),
        (httpx.Timeout(10.0, pool=math.inf), "pool"),
        (httpx.Timeout(None), "connect"),
    ],
)
def test_every_phase_of_an_httpx_timeout_is_checked(timeout: httpx.Timeout, phase: str) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(api_key=CANARY, timeout=timeout)
    assert info.value.field == "timeout"
    assert f"timeout.{phase} must be" in str(info.value)


def test_retry_must_be_a_policy() -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(api_key=CANARY, retry={"max_attempts": 2})  # type: ignore[arg-type]
    assert info.value.field == "retry"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"base_url": "ftp://x"}, "base_url"), ({"timeout": -1}, "timeout")],
)
def test_a_client_whose_init_raised_still_has_a_repr(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(api_key=CANARY, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    # What Sentry, rich and pytest --showlocals record: the repr of every local of every frame.
    shown = traceback_locals(info.value)
    assert "self = AsyncSMSPartner(base_url=" in shown
    assert CANARY not in shown


# -- timeouts and headers -----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (10.0, {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0}),
        (2.0, {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}),
        (
            httpx.Timeout(30.0, connect=7.0),
            {"connect": 7.0, "read": 30.0, "write": 30.0, "pool": 30.0},
        ),
    ],
)
async def test_timeout_reaches_every_request(
    timeout: float | httpx.Timeout, expected: dict[str, float]
) -> None:
    server = Server(answer_for)
    async with server.client(timeout=timeout) as client:
        await client.account()
        await client.subaccounts.add_credit("tok", 1)
    for request in server.requests:
        assert request.extensions["timeout"] == expected


@pytest.mark.anyio
async def test_user_agent_and_accept() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        await client.account()
        await client.subaccounts.add_credit("tok", 1)
    for request in server.requests:
        assert request.headers["User-Agent"] == f"smspartner-async/{sp.__version__}"
        assert request.headers["Accept"] == "application/json"


# -- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_with_closes_its_own_http_client() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        assert not client.is_closed
        await client.account()
    assert client.is_closed
    assert server.closed


@pytest.mark.anyio
async def test_without_async_with_it_opens_lazily_and_aclose_closes() -> None:
    server = Server(answer_for)
    client = server.client()
    info = await client.account()
    assert info.username == "nda"
    await client.aclose()
    assert client.is_closed
    assert server.closed
    await client.aclose()  # twice is fine


@pytest.mark.anyio
async def test_aclose_before_any_call() -> None:
    server = Server(answer_for)
    client = server.client()
    await client.aclose()
    assert client.is_closed
    assert server.count == 0


@pytest.mark.anyio
async def test_closed_client_refuses_calls_and_sends_nothing() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        await client.account()
    with pytest.raises(sp.SMSPartnerError, match="closed"):
        await client.account()
    with pytest.raises(sp.SMSPartnerError, match="closed"):
        await client.subaccounts.add_credit("tok", 1)
    with pytest.raises(sp.SMSPartnerError, match="closed"):
        async with client:
            pass
    assert server.count == 1


def test_a_second_asyncio_event_loop_is_refused_before_anything_is_sent() -> None:
    # A session-scoped client with one asyncio.run per step: its connections and limiter
    # belong to the first loop, so the second must not send (it used to send, then fail).
    server = Server(answer_for)
    client = server.client()
    asyncio.run(client.subaccounts.add_credit("tok", 1))
    for _ in range(2):
        with pytest.raises(sp.SMSPartnerError, match="opened in another asyncio event loop"):
            asyncio.run(client.subaccounts.add_credit("tok", 1))
    assert server.count == 1


def one_slot_held_until(release: anyio.Event) -> tuple[Server, sp.AsyncSMSPartner]:
    """A client with one connection slot, on a server that answers once ``release`` is set."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return answer_for(request)

    server = Server(slow)
    return server, server.client(max_connections=1)


@pytest.mark.anyio
async def test_calls_waiting_for_a_slot_when_the_client_closes(anyio_backend: str) -> None:
    release = anyio.Event()
    server, client = one_slot_held_until(release)
    outcomes: list[BaseException | None] = []

    async def call() -> None:
        try:
            await client.subaccounts.add_credit("tok", 1)
            outcomes.append(None)
        except sp.SMSPartnerError as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        assert server.count == 1  # one in flight, two waiting for the one connection slot
        await client.aclose()
        release.set()
    assert server.count == 1
    waited = [o for o in outcomes if o is not None]
    assert len(waited) == 2
    for error in waited:
        assert "this AsyncSMSPartner is closed" in str(error)


@pytest.mark.anyio
async def test_bulk_items_never_sent_because_the_client_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = anyio.Event()
    server, client = one_slot_held_until(release)
    reports: list[sp.BulkReport] = []

    async def run() -> None:
        reports.append(await client.subaccounts.bulk_add_credit({"a": 1, "b": 2, "c": 3}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.wait_all_tasks_blocked()
        await client.aclose()
        release.set()
    [report] = reports
    statuses = [(r.token, r.status, r.sent) for r in report.results]
    assert statuses == [("a", "applied", True), ("b", "failed", False), ("c", "failed", False)]
    assert server.count == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.anyio
async def test_a_callers_http_client_is_used_and_not_closed() -> None:
    server = Server(answer_for)
    async with httpx.AsyncClient(transport=server.transport()) as http:
        async with sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, http_client=http) as c:
            await c.account()
            await c.subaccounts.add_credit("tok", 1)
        assert c.is_closed
        assert not http.is_closed
        assert not server.closed
        # still usable by its owner
        response = await http.get(BASE_URL + "me", params={"apiKey": "x"})
        assert response.status_code == 200
        # our User-Agent rides on each request even through a caller's client
        for request in server.requests[:2]:
            assert request.headers["User-Agent"] == f"smspartner-async/{sp.__version__}"
    assert server.closed


def test_repr_hides_the_key() -> None:
    client = sp.AsyncSMSPartner(api_key=CANARY)
    assert CANARY not in repr(client)
    assert "***" in repr(client)
    assert CANARY not in repr(client.subaccounts)


# -- each endpoint: request shape and parsed model ----------------------------------------------


@pytest.mark.anyio
async def test_create_advanced_request_and_answer() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        created = await client.subaccounts.create(
            "advanced",
            email="shop@example.com",
            is_buyer=False,
            credit_to_attribute=Decimal("10"),
            title="Mme",
            firstname="Ada",
            lastname="Lovelace",
        )
    [request] = server.requests
    assert request.method == "POST"
    assert request.url.path == "/v1/subaccount/create"
    assert request.url.query == b""
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(request) == {
        "apiKey": CANARY,
        "type": "advanced",
        "parameters": {
            "email": "shop@example.com",
            "isBuyer": 0,
            "creditToAttribute": 10,  # a JSON number, as in the docs' samples
            "title": "Mme",
            "firstname": "Ada",
            "lastname": "Lovelace",
        },
    }
    assert created == sp.CreatedSubaccount(
        email="shop@example.com",
        token="newtoken123",
        send_confirm_mail_to="shop@example.com",
        parent_email="parent@example.com",
    )


@pytest.mark.anyio
async def test_create_simple_sends_no_none_fields() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        await client.subaccounts.create("simple")
        await client.subaccounts.create("simple", is_buyer=True, credit_to_attribute="2.5")
    first, second = (body_of(r) for r in server.requests)
    assert first == {"apiKey": CANARY, "type": "simple", "parameters": {}}
    assert second["parameters"] == {"isBuyer": 1, "creditToAttribute": 2.5}


@pytest.mark.anyio
async def test_create_answer_without_optional_fields() -> None:
    server = Server(lambda r: ok(subaccount={"email": "x@y.fr", "token": "t"}))
    async with server.client() as client:
        created = await client.subaccounts.create("simple")
    assert created == sp.CreatedSubaccount("x@y.fr", "t", None, None)


@pytest.mark.anyio
async def test_list_page_request_and_answer() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        page = await client.subaccounts.list_page()
        await client.subaccounts.list_page(3)
    first, third = server.requests
    assert first.method == "GET"
    assert first.url.path == "/v1/subaccount/list"
    assert dict(first.url.params) == {"apiKey": CANARY, "page": "1"}
    assert dict(third.url.params) == {"apiKey": CANARY, "page": "3"}
    assert first.content == b""
    assert page.total == 2
    assert page.per_page == 20
    assert page.page == 1
    assert [s.id for s in page.items] == [1, 2]
    sub = page.items[0]
    assert sub == sp.Subaccount(
        id=1,
        email="sub1@example.com",
        type="simple",
        token="tok1",
        api_key=f"{SUB_CANARY}-1",
        created_at=datetime(2016, 3, 4, 11, 23, 14),
        credits=sp.Credits(balance=Decimal("0.800"), currency="EUR"),
    )


@pytest.mark.anyio
async def test_list_ignores_unknown_keys() -> None:
    answer = page_answer([7], total=1)
    data = answer.json()
    data["data"][0]["newField"] = {"nested": [1, 2]}
    data["extra"] = "whatever"
    server = Server(lambda r: httpx.Response(200, json=data))
    async with server.client() as client:
        page = await client.subaccounts.list_page()
    assert page.items[0].id == 7


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path"),
    [("add_credit", "subaccount/credit/add"), ("remove_credit", "subaccount/credit/remove")],
)
async def test_credit_request_and_answer(method: str, path: str) -> None:
    server = Server(answer_for)
    async with server.client() as client:
        transfer = await getattr(client.subaccounts, method)("tok42", Decimal("25"))
    [request] = server.requests
    assert request.method == "POST"
    assert request.url.path == f"/v1/{path}"
    assert request.url.query == b""
    assert body_of(request) == {"apiKey": CANARY, "credit": "25", "tokenSubaccount": "tok42"}
    assert transfer == sp.CreditTransfer(
        account_balance=Decimal("2869.2"), subaccount_balance=Decimal("61.8"), currency="EUR"
    )


@pytest.mark.anyio
async def test_delete_request() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        result = await client.subaccounts.delete("tok42")
    assert result is None
    [request] = server.requests
    assert request.method == "DELETE"
    assert request.url.path == "/v1/subaccount/delete"
    # In the body as the docs show, and in the query as a third-party client sends them.
    assert dict(request.url.params) == {"apiKey": CANARY, "token": "tok42"}
    assert body_of(request) == {"apiKey": CANARY, "token": "tok42"}


@pytest.mark.anyio
async def test_account_request_and_answer() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        info = await client.account()
    [request] = server.requests
    assert request.method == "GET"
    assert request.url.path == "/v1/me"
    assert dict(request.url.params) == {"apiKey": CANARY}
    assert info == sp.AccountInfo(
        username="nda",
        firstname="Ada",
        lastname="Lovelace",
        balance=Decimal("10225.119"),
        currency="EUR",
        sms_credits=269082,
        sms_to_send=0,
    )


@pytest.mark.anyio
async def test_account_answer_drift() -> None:
    # The Go SDK's fixture: user with only username, creditSmsLowCost, no SMS counters.
    answer = {
        "user": {"username": "nda"},
        "credits": {"creditSmsLowCost": 12, "solde": "3.500", "currency": "EUR"},
    }
    server = Server(lambda r: ok(**answer))
    async with server.client() as client:
        info = await client.account()
    assert info.username == "nda"
    assert info.firstname is None
    assert info.lastname is None
    assert info.balance == Decimal("3.500")
    assert str(info.balance) == "3.500"
    assert info.sms_credits is None
    assert info.sms_to_send is None


@pytest.mark.anyio
async def test_models_are_frozen() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        info = await client.account()
        page = await client.subaccounts.list_page()
    with pytest.raises(AttributeError):
        info.balance = Decimal(0)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        page.items[0].email = "x"  # type: ignore[misc]


@pytest.mark.anyio
async def test_one_client_serves_concurrent_calls() -> None:
    server = Server(answer_for)
    results: list[object] = []
    async with server.client() as client:

        async def call() -> None:
            results.append(await client.account())

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(call)
    assert len(results) == 10
    assert server.count == 10


@pytest.mark.parametrize("key", [12345, b"bytes-key", "key\nwith-newline"])
def test_an_api_key_that_is_not_printable_text_is_refused(key: object) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.AsyncSMSPartner(api_key=key)  # type: ignore[arg-type]
    assert info.value.field == "api_key"
    assert "newline" not in str(info.value)  # the key itself is never echoed
