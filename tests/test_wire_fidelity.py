"""Where the public record disputes a fact, the library works under every reading.

Routing misses are not "not found"; delete finds whichever of its two documented paths the
server routes; validation lists under ``error`` or ``errors``; the global error codes; numbers
sent as the samples send them; rows that drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from _support import (
    ALL_CALLS,
    CANARY,
    READS,
    WRITES,
    Server,
    always,
    body_of,
    fail,
    ok,
    page_answer,
    raw,
    row,
)

import smspartner_async as sp
from smspartner_async._converter import JSONNumber, dumps
from smspartner_async.testing import Emulator, Fault

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff")]

# -- routing misses ------------------------------------------------------------------------------

#: 404/405 answers that are not the API's own JSON (success: false with a code).
MISSES = {
    "html": raw("<html><body><h1>404 Not Found</h1></body></html>", 404),
    "framework-json": httpx.Response(404, json={"code": 404, "message": "No route found"}),
    "framework-405": httpx.Response(405, json={"code": 405, "message": "Method Not Allowed"}),
    "empty-405": raw("", 405),
    "success-false-no-code": httpx.Response(404, json={"success": False, "message": "nope"}),
}


@pytest.mark.parametrize("answer", MISSES.values(), ids=MISSES.keys())
@pytest.mark.parametrize("endpoint", [e for e in ALL_CALLS if e != "subaccount/delete"])
async def test_a_routing_miss_is_its_own_error(endpoint: str, answer: httpx.Response) -> None:
    server = Server(always(answer))
    async with server.client() as client:
        with pytest.raises(sp.RouteNotFoundError) as info:
            await ALL_CALLS[endpoint](client)
    error = info.value
    assert not isinstance(error, sp.NotFoundError)
    assert error.status_code == answer.status_code
    assert error.endpoint == endpoint
    assert error.code is None  # a framework's "code" is not the API's
    method = "GET" if endpoint in READS else "POST"
    assert str(error).startswith(
        f"{endpoint}: the server has no route for {method} {endpoint} (HTTP {answer.status_code})"
    )
    assert server.count == 1  # final: neither retried nor "outcome unknown"


@pytest.mark.parametrize("status", [200, 404])
async def test_not_found_comes_only_from_the_apis_own_answer(status: int) -> None:
    server = Server(always(fail(404, "Ce sous-compte n'existe pas", status=status)))
    async with server.client() as client:
        with pytest.raises(sp.NotFoundError) as info:
            await client.subaccounts.delete("tok1")
    assert info.value.code == 404
    assert server.count == 1  # the route answered: no second path tried


# -- delete, whichever path the server routes ----------------------------------------------------


def _routes(*paths: str, answer: Callable[[], httpx.Response] = ok) -> Server:
    """A server routing only ``paths``; any other path gets a framework's 404."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.removeprefix("/v1/") in paths:
            return answer()
        return httpx.Response(404, json={"code": 404, "message": "No route found"})

    return Server(handler)


def _paths(server: Server) -> list[str]:
    return [r.url.path.removeprefix("/v1/") for r in server.requests]


@pytest.mark.parametrize(
    ("routed", "first_call", "later_calls"),
    [
        ("subaccount/delete", ["subaccount/delete"], ["subaccount/delete"]),
        ("subaccount/remove", ["subaccount/delete", "subaccount/remove"], ["subaccount/remove"]),
    ],
)
async def test_delete_finds_the_routed_path_and_remembers_it(
    routed: str, first_call: list[str], later_calls: list[str]
) -> None:
    server = _routes(routed)
    async with server.client() as client:
        await client.subaccounts.delete("tok1")
        assert _paths(server) == first_call
        await client.subaccounts.delete("tok2")
        await client.subaccounts.delete("tok3")
    assert _paths(server) == first_call + later_calls * 2


async def test_delete_remembers_a_path_the_api_answered_not_found_on() -> None:
    server = _routes("subaccount/remove", answer=lambda: fail(404, "absent"))
    async with server.client() as client:
        for _ in range(2):
            with pytest.raises(sp.NotFoundError) as info:
                await client.subaccounts.delete("tok1")
            assert info.value.endpoint == "subaccount/remove"
    assert _paths(server) == ["subaccount/delete", "subaccount/remove", "subaccount/remove"]


async def test_delete_switches_back_when_the_server_moves() -> None:
    server = _routes("subaccount/remove")
    async with server.client() as client:
        await client.subaccounts.delete("tok1")
        server.handler = _routes("subaccount/delete").handler
        await client.subaccounts.delete("tok2")
        await client.subaccounts.delete("tok3")
    assert _paths(server)[2:] == ["subaccount/remove", "subaccount/delete", "subaccount/delete"]


async def test_delete_with_no_routed_path_tries_each_once() -> None:
    server = _routes()
    async with server.client() as client:
        with pytest.raises(sp.RouteNotFoundError) as info:
            await client.subaccounts.delete("tok1")
    assert _paths(server) == ["subaccount/delete", "subaccount/remove"]
    assert info.value.endpoint == "subaccount/remove"
    assert isinstance(info.value.__context__, sp.RouteNotFoundError)


@pytest.mark.parametrize("code", [1, 10])
async def test_delete_refusals_on_the_remove_path_are_mapped_like_delete(code: int) -> None:
    server = _routes("subaccount/remove", answer=lambda: fail(code, "x"))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.delete("tok1")
    expected = sp.InvalidRequestError if code == 1 else sp.AuthenticationError
    assert type(info.value) is expected


async def test_delete_sends_key_and_token_in_the_body_and_the_query() -> None:
    server = Server(always(ok()))
    async with server.client() as client:
        await client.subaccounts.delete("tok1")
    [request] = server.requests
    assert request.method == "DELETE"
    assert body_of(request) == {"apiKey": CANARY, "token": "tok1"}
    assert dict(request.url.params) == {"apiKey": CANARY, "token": "tok1"}
    assert request.headers["content-type"] == "application/json"


ALL_DELETE_MODES = [
    ("subaccount/delete",),
    ("subaccount/remove",),
    ("subaccount/delete", "subaccount/remove"),
]


@pytest.mark.parametrize("mode", ALL_DELETE_MODES, ids=["delete", "remove", "both"])
async def test_delete_against_the_emulator_in_each_routing_mode(mode: tuple[str, ...]) -> None:
    emulator = Emulator(delete_paths=mode)
    tokens = emulator.seed_subaccounts(3, balance="2")
    async with emulator.client() as client:
        for token in tokens[:2]:
            await client.subaccounts.delete(token)
        with pytest.raises(sp.NotFoundError):
            await client.subaccounts.delete(tokens[0])  # already gone: the API says so
    assert [s.token for s in emulator.subaccounts] == tokens[2:]
    assert emulator.total_money() == Decimal("10000")
    paths = [r.path.removeprefix("/v1/") for r in emulator.requests]
    if mode == ("subaccount/remove",):
        assert paths == ["subaccount/delete"] + ["subaccount/remove"] * 3
    else:
        assert paths == ["subaccount/delete"] * 3


@pytest.mark.parametrize("mode", ALL_DELETE_MODES, ids=["delete", "remove", "both"])
async def test_the_emulator_answers_an_unrouted_delete_path_like_a_framework(
    mode: tuple[str, ...],
) -> None:
    emulator = Emulator(delete_paths=mode)
    [token] = emulator.seed_subaccounts(1)
    async with emulator.client() as client:
        http = client._open()[0]  # pyright: ignore[reportPrivateUsage]
        for path in ("subaccount/delete", "subaccount/remove"):
            answer = await http.request(
                "DELETE", f"{client.base_url}{path}", json={"apiKey": CANARY, "token": "nope"}
            )
            if path in mode:
                assert (answer.status_code, answer.json()["code"]) == (200, 404)
                assert answer.json()["success"] is False
            else:
                assert answer.status_code == 404
                assert "success" not in answer.json()
    assert emulator.balance(token) == 0


def test_emulator_delete_paths_are_checked() -> None:
    assert Emulator(delete_paths="/v1/subaccount/remove").delete_paths == {"subaccount/remove"}
    emulator = Emulator()
    emulator.delete_paths = ["subaccount/delete"]
    assert emulator.delete_paths == {"subaccount/delete"}
    for bad in ([], ["subaccount/erase"]):
        with pytest.raises(ValueError, match="delete_paths"):
            Emulator(delete_paths=bad)


# -- validation lists, global codes, disputed codes ----------------------------------------------

DETAILS = [{"elementId": "children[sender].data", "message": "Trop long"}]


@pytest.mark.parametrize("key", ["error", "errors"])
@pytest.mark.parametrize("endpoint", list(ALL_CALLS))
async def test_code_9_with_a_list_is_invalid_request_everywhere(endpoint: str, key: str) -> None:
    server = Server(always(fail(9, None, status=400, **{key: DETAILS})))
    async with server.client() as client:
        with pytest.raises(sp.InvalidRequestError) as info:
            await ALL_CALLS[endpoint](client)
    assert info.value.details == (sp.ErrorDetail("children[sender].data", "Trop long"),)
    assert info.value.message == "children[sender].data: Trop long"


async def test_create_code_9_without_a_list_keeps_its_own_meaning() -> None:
    server = Server(always(fail(9, "Votre solde doit être supérieur à 0")))
    async with server.client() as client:
        with pytest.raises(sp.InsufficientCreditError):
            await client.subaccounts.create("simple")


GLOBAL_CODES: dict[int, type[sp.APIError]] = {
    11: sp.InsufficientCreditError,  # insufficient credit
    96: sp.PermissionDeniedError,  # IP not authorised
    20: sp.PermissionDeniedError,  # account disabled
    30: sp.PermissionDeniedError,  # account blocked
    40: sp.PermissionDeniedError,  # API access denied
    90: sp.InvalidRequestError,  # malformed JSON
}


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize(("code", "cls"), GLOBAL_CODES.items())
@pytest.mark.parametrize("endpoint", list(ALL_CALLS))
async def test_global_codes_on_every_endpoint(
    endpoint: str, code: int, cls: type[sp.APIError], status: int
) -> None:
    server = Server(always(fail(code, "Message du serveur", status=status)))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await ALL_CALLS[endpoint](client)
    assert type(info.value) is cls
    assert info.value.message == "Message du serveur"
    assert server.count == 1


#: Credit codes the global page reads otherwise: the per-endpoint meaning wins.
DISPUTED = {
    3: sp.InvalidRequestError,  # token required (global: credit required)
    4: sp.PermissionDeniedError,  # not authorized (global: tokenSubaccount required)
    6: sp.InsufficientCreditError,  # balance must be > 0 (global: sub-account not found)
    7: sp.NotFoundError,  # sub-account does not exist (global: insufficient credit)
}


@pytest.mark.parametrize(("code", "cls"), DISPUTED.items())
@pytest.mark.parametrize("endpoint", ["subaccount/credit/add", "subaccount/credit/remove"])
async def test_disputed_credit_codes_keep_the_per_endpoint_meaning_and_the_message(
    endpoint: str, code: int, cls: type[sp.APIError]
) -> None:
    server = Server(always(fail(code, "Sous-compte introuvable")))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await WRITES[endpoint](client)
    assert type(info.value) is cls
    assert info.value.message == "Sous-compte introuvable"  # whatever the server meant


async def test_the_emulator_answers_malformed_json_with_code_90() -> None:
    emulator = Emulator()
    async with emulator.client() as client:
        http = client._open()[0]  # pyright: ignore[reportPrivateUsage]
        answer = await http.post(f"{client.base_url}me", content=b"{")
        assert answer.status_code == 405  # me is GET only: a routing miss first
        answer = await http.post(f"{client.base_url}subaccount/credit/add", content=b"{")
    assert answer.status_code == 400
    assert answer.json()["code"] == 90


# -- numbers as the samples send them ------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "digits"),
    [(Decimal("10"), b"10"), ("2.5", b"2.5"), (3, b"3"), ("0.001", b"0.001"), (100, b"100")],
)
async def test_create_sends_numbers_as_exact_json_numbers(amount: object, digits: bytes) -> None:
    server = Server(always(ok(subaccount={"email": "a@b.fr", "token": "t"})))
    async with server.client() as client:
        await client.subaccounts.create(
            "advanced",
            email="a@b.fr",
            is_buyer=True,
            credit_to_attribute=amount,  # type: ignore[arg-type]
        )
    [request] = server.requests
    assert request.content == (
        b'{"apiKey":"' + CANARY.encode() + b'","type":"advanced","parameters":'
        b'{"email":"a@b.fr","isBuyer":1,"creditToAttribute":' + digits + b"}}"
    )
    parsed = json.loads(request.content, parse_float=Decimal)
    assert parsed["parameters"]["creditToAttribute"] == Decimal(digits.decode())
    assert request.headers["content-type"] == "application/json"


async def test_is_buyer_false_is_the_number_0() -> None:
    server = Server(always(ok(subaccount={"email": "a@b.fr", "token": "t"})))
    async with server.client() as client:
        await client.subaccounts.create("advanced", email="a@b.fr", is_buyer=False)
    assert b'"isBuyer":0' in server.requests[0].content


async def test_credit_goes_out_as_a_string() -> None:
    server = Server(always(ok(credit=1, subaccountCredit=1, currency="EUR")))
    async with server.client() as client:
        await client.subaccounts.add_credit("tok1", Decimal("25.50"))
    content = server.requests[0].content
    assert content == (
        b'{"apiKey":"' + CANARY.encode() + b'","credit":"25.5","tokenSubaccount":"tok1"}'
    )


async def test_create_numbers_reach_the_emulator_exactly() -> None:
    emulator = Emulator(main_balance="100")
    async with emulator.client() as client:
        created = await client.subaccounts.create(
            "advanced", email="a@b.fr", is_buyer=False, credit_to_attribute="12.345"
        )
    assert emulator.balance(created.token) == Decimal("12.345")
    assert emulator.requests[0].json["parameters"]["creditToAttribute"] == Decimal("12.345")  # type: ignore[index]


def test_dumps_writes_digits_and_escapes_text() -> None:
    payload = {"a": JSONNumber("-0.5"), "b": {"c": 'é"\n', "d": [1, None, True]}}
    assert dumps(payload) == '{"a":-0.5,"b":{"c":"é\\"\\n","d":[1,null,true]}}'.encode()
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps({"x": float("nan")})
    for bad in ("1e5", "01", "1.", ".5", "NaN", "1,5", " 1", ""):
        with pytest.raises(ValueError, match="not a plain JSON number"):
            JSONNumber(bad)


# -- rows that drift -----------------------------------------------------------------------------


def _page(**changes: Any) -> httpx.Response:
    first = row(1)
    for key, value in changes.items():
        if value is _DROP:
            del first[key]
        else:
            first[key] = value
    return ok(total=2, nb_per_page=20, page=1, data=[first, row(2)])


_DROP = object()


@pytest.mark.parametrize("how", [None, _DROP], ids=["null", "missing"])
@pytest.mark.parametrize("key", ["email", "apiKey", "createdAt"])
async def test_optional_row_fields_may_be_null_or_missing(key: str, how: object) -> None:
    server = Server(always(_page(**{key: how})))
    async with server.client() as client:
        page = await client.subaccounts.list_page()
    first, second = page.items
    field = {"email": "email", "apiKey": "api_key", "createdAt": "created_at"}[key]
    assert getattr(first, field) is None
    assert getattr(second, field) is not None
    assert first.token == "tok1"


@pytest.mark.parametrize("how", [None, _DROP], ids=["null", "missing"])
@pytest.mark.parametrize("key", ["id", "token", "type", "credits"])
async def test_required_row_fields_are_a_decode_error_with_the_path(key: str, how: object) -> None:
    server = Server(always(_page(**{key: how})))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.subaccounts.list_page()
    assert any(f"@ $.data[0].{key}" in e for e in info.value.errors), info.value.errors


async def test_a_row_with_every_optional_field_absent_lists_through_the_paginator() -> None:
    bare = {
        "id": 1,
        "type": "simple",
        "token": "t1",
        "credits": {"balance": "1", "currency": "EUR"},
    }
    server = Server(always(ok(total=1, nb_per_page=20, page=1, data=[bare])))
    async with server.client() as client:
        [sub] = [s async for s in client.subaccounts.list()]
    assert (sub.email, sub.api_key, sub.created_at) == (None, None, None)
    assert "api_key='***'" in repr(sub)


async def test_reads_are_unaffected_by_a_routing_miss_retry_rule() -> None:
    # A routing miss on a read is final too: retrying a route that does not exist is useless.
    for call in READS.values():
        server = Server(always(raw("<html>404</html>", 404)))
        async with server.client() as client:
            with pytest.raises(sp.RouteNotFoundError):
                await call(client)
        assert server.count == 1


async def test_a_page_whose_rows_disagree_with_total_is_not_refused() -> None:
    server = Server(always(page_answer([1, 2], total=29)))
    async with server.client() as client:
        page = await client.subaccounts.list_page()
    assert (page.total, len(page.items)) == (29, 2)


def test_a_reply_fault_takes_text_or_bytes_and_a_sane_status() -> None:
    assert Fault.reply('{"a": 1}').content == b'{"a": 1}'
    assert Fault.reply(b"{}", status_code=404).status_code == 404
    assert not Fault.reply(b"{}").applies
    for status in (199, 302, 600):
        with pytest.raises(ValueError, match="status code"):
            Fault.reply(b"{}", status_code=status)
