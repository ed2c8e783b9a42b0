"""The caller's settings: a caller's http_client timeout, and per-call views (with_options)."""

from __future__ import annotations

import anyio
import httpx
import pytest
from _support import BASE_URL, CANARY, Server, answer_for, fail

import smspartner_async as sp

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff")]

OURS = {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0}


def timeout_of(request: httpx.Request) -> dict[str, float | None]:
    timeout: dict[str, float | None] = request.extensions["timeout"]
    return timeout


# -- a caller's http_client -----------------------------------------------------------------------


async def test_a_callers_client_timeout_is_used_as_given() -> None:
    server = Server(answer_for)
    theirs = httpx.Timeout(30.0, connect=2.0)
    async with (
        httpx.AsyncClient(transport=server.transport(), timeout=theirs) as http,
        sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, http_client=http) as client,
    ):
        await client.account()
        await client.subaccounts.add_credit("tok", 1)
    assert [timeout_of(r) for r in server.requests] == [theirs.as_dict()] * 2


async def test_an_explicit_timeout_wins_over_the_callers_client() -> None:
    server = Server(answer_for)
    async with httpx.AsyncClient(transport=server.transport(), timeout=30.0) as http:
        client = sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, http_client=http, timeout=3)
        async with client:
            await client.account()
    assert timeout_of(server.requests[0]) == dict.fromkeys(OURS, 3.0)


async def test_our_own_client_defaults_to_ten_seconds() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        await client.account()
    assert timeout_of(server.requests[0]) == OURS


# -- with_options ---------------------------------------------------------------------------------


async def test_a_view_sends_with_its_own_timeout() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        patient = client.with_options(timeout=60.0)
        await patient.account()
        await client.account()
    assert [timeout_of(r)["read"] for r in server.requests] == [60.0, 10.0]
    assert timeout_of(server.requests[0])["connect"] == 5.0


async def test_a_view_with_retries_off_gives_up_where_the_client_retries() -> None:
    answers = iter([503, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return answer_for(request) if status == 200 else fail(None, "busy", status=503)

    server = Server(handler)
    async with server.client() as client:
        once = client.with_options(retry=sp.RetryPolicy(max_attempts=1))
        with pytest.raises(sp.ServerError):
            await once.account()
        info = await client.account()  # 503 then 200: retried
    assert info.username == "nda"
    assert server.count == 3
    assert once.retry.max_attempts == 1
    assert client.retry == sp.RetryPolicy()


async def test_a_view_shares_the_pool_and_closing_it_closes_nothing() -> None:
    server = Server(answer_for)
    client = server.client()
    view = client.with_options(timeout=1.0)
    async with view:  # the first use opens the client's pool, not a second one
        await view.subaccounts.list_page()
    assert not view.is_closed
    assert not client.is_closed
    assert not server.closed
    await view.aclose()
    await client.account()  # still open
    await client.aclose()
    assert server.closed
    assert view.is_closed
    with pytest.raises(sp.SMSPartnerError, match="closed"):
        await view.account()
    assert server.count == 2


async def test_a_view_of_a_view_keeps_what_it_does_not_change() -> None:
    server = Server(answer_for)
    async with server.client(timeout=7.0) as client:
        view = client.with_options(retry=sp.RetryPolicy(max_attempts=2)).with_options(timeout=2.0)
        await view.account()
        await client.with_options().account()
    assert [timeout_of(r)["read"] for r in server.requests] == [2.0, 7.0]
    assert view.retry.max_attempts == 2
    assert view.base_url == client.base_url
    assert repr(view) == repr(client)
    assert CANARY not in repr(view.subaccounts)


@pytest.mark.parametrize(
    ("options", "field"),
    [({"timeout": float("nan")}, "timeout"), ({"retry": "3"}, "retry")],
)
async def test_a_view_checks_its_settings_like_the_client(
    options: dict[str, object], field: str
) -> None:
    async with Server(answer_for).client() as client:
        with pytest.raises(sp.ValidationError) as info:
            client.with_options(**options)  # type: ignore[arg-type]
    assert info.value.field == field


async def test_a_views_timeout_is_its_deadline_too() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(2)  # a server that answers too late for the view, not for the client
        return answer_for(request)

    transport = httpx.MockTransport(slow)
    async with sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, transport=transport) as client:
        hurried = client.with_options(timeout=0.05, retry=sp.RetryPolicy(max_attempts=1))
        with pytest.raises(sp.APITimeoutError):
            await hurried.account()
