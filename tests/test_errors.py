"""Error answers: endpoint + code -> error class, in both error styles, and malformed answers."""

from __future__ import annotations

import httpx
import pytest
from _support import (
    ALL_CALLS,
    READS,
    WRITES,
    Server,
    always,
    fail,
    ok,
    page_answer,
    raw,
    row,
)

import smspartner_async as sp

pytestmark = pytest.mark.usefixtures("no_backoff")

Auth = sp.AuthenticationError
Perm = sp.PermissionDeniedError
Invalid = sp.InvalidRequestError
NotFound = sp.NotFoundError
Credit = sp.InsufficientCreditError
Conflict = sp.ConflictError

#: SPEC section 1's codes, endpoint by endpoint, with the class each must raise.
CODES: dict[str, dict[int, type[sp.APIError]]] = {
    "subaccount/create": {
        1: Auth,  # API key required
        2: Perm,  # not allowed to create sub-accounts (older page)
        3: Invalid,  # isBuyer required
        4: Invalid,  # type required
        5: Invalid,  # unknown type
        6: Invalid,  # email required
        7: Conflict,  # an account already exists with this email
        8: Invalid,  # creditToAttribute must be > 0
        9: Credit,  # balance must be > 0
        10: Auth,  # invalid API key
    },
    "subaccount/list": {1: Auth, 10: Auth},
    "me": {1: Auth, 10: Auth},
    "subaccount/credit/add": {
        1: Auth,
        2: Invalid,  # credit required
        3: Invalid,  # sub-account token required
        4: Perm,  # not authorized
        5: Invalid,  # credit must be > 0
        6: Credit,  # your balance must be > 0
        7: NotFound,  # sub-account does not exist
        8: Credit,  # insufficient credit
        10: Auth,
    },
    "subaccount/delete": {1: Invalid, 10: Auth, 404: NotFound},
}
CODES["subaccount/credit/remove"] = CODES["subaccount/credit/add"]

CASES = [
    pytest.param(endpoint, code, cls, id=f"{endpoint}-{code}")
    for endpoint, table in CODES.items()
    for code, cls in table.items()
]


@pytest.mark.anyio
@pytest.mark.parametrize(("endpoint", "code", "cls"), CASES)
async def test_every_documented_code(endpoint: str, code: int, cls: type[sp.APIError]) -> None:
    # both styles: HTTP 200 with success:false, and an error status
    for status in (200, 400):
        server = Server(always(fail(code, "Message du serveur", status=status)))
        async with server.client() as client:
            with pytest.raises(sp.APIError) as info:
                await ALL_CALLS[endpoint](client)
        error = info.value
        assert type(error) is cls, status
        assert error.code == code
        assert error.status_code == status
        assert error.endpoint == endpoint
        assert error.message == "Message du serveur"
        assert error.details == ()
        assert str(error) == f"{endpoint}: Message du serveur (code {code})"
        assert server.count == 1  # a refusal is final, never retried


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403, 404, 409, 422])
async def test_code_beats_status(status: int) -> None:
    # credit code 8 is "insufficient credit" whatever the HTTP status says
    server = Server(always(fail(8, "Crédit insuffisant", status=status)))
    async with server.client() as client:
        with pytest.raises(sp.InsufficientCreditError):
            await client.subaccounts.add_credit("tok", 5)


@pytest.mark.anyio
async def test_same_code_different_meaning_per_endpoint() -> None:
    server = Server(always(fail(7, "x")))
    async with server.client() as client:
        with pytest.raises(sp.ConflictError):
            await client.subaccounts.create("simple")
        with pytest.raises(sp.NotFoundError):
            await client.subaccounts.add_credit("tok", 1)
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.list_page()
    assert type(info.value) is sp.APIError  # code 7 means nothing on list


@pytest.mark.anyio
async def test_code_as_a_string() -> None:
    answer = httpx.Response(200, json={"success": False, "code": "10", "message": "Clé"})
    server = Server(always(answer))
    async with server.client() as client:
        with pytest.raises(sp.AuthenticationError) as info:
            await client.account()
    assert info.value.code == 10


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (200, sp.APIError),
        (400, sp.InvalidRequestError),
        (401, sp.AuthenticationError),
        (403, sp.PermissionDeniedError),
        (404, sp.NotFoundError),
        (405, sp.InvalidRequestError),
        (409, sp.ConflictError),
        (418, sp.InvalidRequestError),
    ],
)
@pytest.mark.parametrize("code", [None, 999])
async def test_unknown_or_missing_codes_fall_back_on_status(
    status: int, cls: type[sp.APIError], code: int | None
) -> None:
    server = Server(always(fail(code, "nope", status=status)))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.add_credit("tok", 1)
    # Without a code the answer is not the API's own: a 404/405 is then a routing miss.
    if code is None and status in (404, 405):
        cls = sp.RouteNotFoundError
    assert type(info.value) is cls
    assert info.value.code == code
    assert info.value.status_code == status
    assert server.count == 1


@pytest.mark.anyio
async def test_error_without_message_gets_one() -> None:
    server = Server(always(fail(999, None, status=400)))
    async with server.client() as client:
        with pytest.raises(sp.InvalidRequestError) as info:
            await client.subaccounts.list_page()
    assert "400" in info.value.message


@pytest.mark.anyio
@pytest.mark.parametrize("status", [200, 400])
async def test_validation_shape_fills_details(status: int) -> None:
    errors = [
        {"elementId": "parameters[email]", "message": "Cette valeur n'est pas valide."},
        {"elementId": "credit", "message": "Doit être positif."},
    ]
    for endpoint, call in ALL_CALLS.items():
        server = Server(always(fail(9, None, status=status, error=errors)))
        async with server.client() as client:
            with pytest.raises(sp.APIError) as info:
                await call(client)
        error = info.value
        assert error.code == 9, endpoint
        assert error.details == (
            sp.ErrorDetail("parameters[email]", "Cette valeur n'est pas valide."),
            sp.ErrorDetail("credit", "Doit être positif."),
        )
        assert "parameters[email]: Cette valeur n'est pas valide." in error.message
        assert "credit: Doit être positif." in error.message


@pytest.mark.anyio
async def test_validation_shape_odd_entries() -> None:
    errors = [{"message": "no element"}, "a bare string", {"elementId": "x", "message": 5}, 7]
    server = Server(always(fail(9, "Erreur", error=errors)))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.add_credit("tok", 1)
    assert info.value.message == "Erreur"
    assert info.value.details == (
        sp.ErrorDetail(None, "no element"),
        sp.ErrorDetail(None, "a bare string"),
        sp.ErrorDetail("x", "5"),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", list(ALL_CALLS))
async def test_429_is_a_rate_limit_error(endpoint: str) -> None:
    server = Server(always(fail(None, "Too many requests", status=429)))
    policy = sp.RetryPolicy(max_attempts=1)
    async with server.client(retry=policy) as client:
        with pytest.raises(sp.RateLimitError) as info:
            await ALL_CALLS[endpoint](client)
    assert info.value.status_code == 429
    assert info.value.retry_after is None
    assert info.value.endpoint == endpoint


@pytest.mark.anyio
async def test_429_wins_over_a_code() -> None:
    server = Server(always(fail(10, "Clé", status=429)))
    async with server.client(retry=sp.RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(sp.RateLimitError):
            await client.account()


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("endpoint", list(READS))
async def test_5xx_is_a_server_error(endpoint: str, status: int) -> None:
    server = Server(always(raw("<html>Bad Gateway</html>", status)))
    async with server.client(retry=sp.RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(sp.ServerError) as info:
            await READS[endpoint](client)
    assert info.value.status_code == status
    assert info.value.endpoint == endpoint


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", list(WRITES))
async def test_5xx_on_a_write_is_outcome_unknown_with_the_server_error_as_cause(
    endpoint: str,
) -> None:
    server = Server(always(fail(10, "boom", status=500)))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await WRITES[endpoint](client)
    assert isinstance(info.value.__cause__, sp.ServerError)
    assert info.value.endpoint == endpoint
    assert server.count == 1


# -- answers that are not the documented shape --------------------------------------------------

GARBAGE = {
    "html": "<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>",
    "truncated": '{"success": true, "code": 200, "total": 29, "nb_per_page": 20, "da',
    "list": "[1, 2, 3]",
    "string": '"ok"',
    "null": "null",
    "empty": "",
    "no-success": '{"code": 200}',
    "success-string": '{"success": "true", "code": 200}',
    "success-null": '{"success": null, "code": 200}',
}


@pytest.mark.anyio
@pytest.mark.parametrize("content", GARBAGE.values(), ids=GARBAGE.keys())
async def test_unreadable_answer_on_a_read_is_a_decode_error(content: str) -> None:
    for endpoint, call in READS.items():
        server = Server(always(raw(content, 200, **{"Content-Type": "text/html"})))
        async with server.client() as client:
            with pytest.raises(sp.DecodeError) as info:
                await call(client)
        error = info.value
        assert error.status_code == 200
        assert error.endpoint == endpoint
        assert error.body == content
        assert error.errors, "a DecodeError must say where the answer went wrong"
        assert all("@ $" in e for e in error.errors)
        assert server.count == 1  # not retried: the server answered


@pytest.mark.anyio
@pytest.mark.parametrize("content", GARBAGE.values(), ids=GARBAGE.keys())
async def test_unreadable_answer_on_a_write_is_outcome_unknown(content: str) -> None:
    for endpoint, call in WRITES.items():
        server = Server(always(raw(content, 200)))
        async with server.client() as client:
            with pytest.raises(sp.OutcomeUnknownError) as info:
                await call(client)
        cause = info.value.__cause__
        assert isinstance(cause, sp.DecodeError)
        assert cause.status_code == 200
        assert cause.endpoint == endpoint
        assert cause.errors
        assert server.count == 1


@pytest.mark.anyio
async def test_decode_error_body_is_an_excerpt() -> None:
    server = Server(always(raw("<p>" + "x" * 5000 + "</p>")))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.account()
    assert 0 < len(info.value.body) <= 1000


def _page_with(**changes: object) -> httpx.Response:
    data = page_answer([1, 2], total=2).json()
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _MISSING:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return httpx.Response(200, json=data)


_MISSING = object()

BAD_PAGES = [
    pytest.param({"total": _MISSING}, "$.total", id="missing-total"),
    pytest.param({"nb_per_page": _MISSING}, "$.nb_per_page", id="missing-nb_per_page"),
    pytest.param({"data": _MISSING}, "$.data", id="missing-data"),
    pytest.param({"total": "many"}, "$.total", id="bad-total"),
    pytest.param({"data": {"0": {}}}, "$.data", id="data-not-a-list"),
    pytest.param({"data__1__id": "x"}, "$.data[1].id", id="bad-id"),
    pytest.param({"data__0__token": None}, "$.data[0].token", id="null-token"),
    pytest.param({"data__1__apiKey": 5}, "$.data[1].apiKey", id="bad-apiKey"),
    pytest.param({"data__0__createdAt": "yesterday"}, "$.data[0].createdAt", id="bad-createdAt"),
    pytest.param({"data__1__token": _MISSING}, "$.data[1].token", id="missing-token"),
    pytest.param({"data__0__credits": _MISSING}, "$.data[0].credits", id="missing-credits"),
    pytest.param(
        {"data__1__credits__balance": "abc"}, "$.data[1].credits.balance", id="bad-balance"
    ),
    pytest.param(
        {"data__0__credits__balance": "NaN"}, "$.data[0].credits.balance", id="nan-balance"
    ),
    pytest.param(
        {"data__0__credits__balance": True}, "$.data[0].credits.balance", id="bool-balance"
    ),
    pytest.param(
        {"data__0__credits__currency": _MISSING},
        "$.data[0].credits.currency",
        id="missing-currency",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("changes", "path"), BAD_PAGES)
async def test_malformed_page_names_the_field(changes: dict[str, object], path: str) -> None:
    server = Server(always(_page_with(**changes)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.subaccounts.list_page()
    error = info.value
    assert error.status_code == 200
    assert error.endpoint == "subaccount/list"
    assert any(f"@ {path}" in e for e in error.errors), error.errors
    assert path in str(error)
    assert server.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "path"),
    [
        ({"credit": 1.5, "currency": "EUR"}, "$.subaccountCredit"),
        ({"subaccountCredit": 1.5, "currency": "EUR"}, "$.credit"),
        ({"credit": "lots", "subaccountCredit": 1, "currency": "EUR"}, "$.credit"),
        ({"credit": 1, "subaccountCredit": 1}, "$.currency"),
    ],
)
async def test_malformed_transfer_names_the_field(answer: dict[str, object], path: str) -> None:
    server = Server(always(ok(**answer)))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await client.subaccounts.add_credit("tok", 1)
    cause = info.value.__cause__
    assert isinstance(cause, sp.DecodeError)
    assert any(f"@ {path}" in e for e in cause.errors), cause.errors
    assert cause.endpoint == "subaccount/credit/add"
    assert server.count == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "path"),
    [
        ({}, "$.subaccount"),
        ({"subaccount": {"email": "a@b.fr"}}, "$.subaccount.token"),
        ({"subaccount": "tok"}, "$.subaccount"),
    ],
)
async def test_malformed_create_answer_names_the_field(
    answer: dict[str, object], path: str
) -> None:
    server = Server(always(ok(**answer)))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await client.subaccounts.create("simple")
    cause = info.value.__cause__
    assert isinstance(cause, sp.DecodeError)
    assert any(f"@ {path}" in e for e in cause.errors), cause.errors


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "path"),
    [
        ({"credits": {"balance": "1", "currency": "EUR"}}, "$.user"),
        ({"user": {}, "credits": {"balance": "1", "currency": "EUR"}}, "$.user.username"),
        ({"user": {"username": "u"}, "credits": {"currency": "EUR"}}, "$.credits.balance"),
        ({"user": {"username": "u"}, "credits": {"balance": "1"}}, "$.credits.currency"),
        (
            {
                "user": {"username": "u"},
                "credits": {"balance": "1", "currency": "EUR", "toSend": "x"},
            },
            "$.credits.toSend",
        ),
    ],
)
async def test_malformed_account_answer_names_the_field(
    answer: dict[str, object], path: str
) -> None:
    server = Server(always(ok(**answer)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.account()
    assert any(f"@ {path}" in e for e in info.value.errors), info.value.errors
    assert info.value.endpoint == "me"
    assert info.value.status_code == 200


@pytest.mark.anyio
async def test_decode_error_with_a_201() -> None:
    data = page_answer([1], total=1).json()
    del data["total"]
    server = Server(always(httpx.Response(201, json=data)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.subaccounts.list_page()
    assert info.value.status_code == 201


@pytest.mark.anyio
async def test_success_answer_with_a_2xx_other_than_200() -> None:
    server = Server(always(ok(201, **{"total": 1, "nb_per_page": 20, "page": 1, "data": [row(1)]})))
    async with server.client() as client:
        page = await client.subaccounts.list_page()
    assert page.total == 1


@pytest.mark.anyio
async def test_html_error_page_with_an_error_status() -> None:
    server = Server(always(raw("<html>Forbidden</html>", 403)))
    async with server.client() as client:
        with pytest.raises(sp.PermissionDeniedError) as info:
            await client.subaccounts.list_page()
    assert info.value.code is None
    assert info.value.status_code == 403


# -- the tree -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (sp.ValidationError, sp.SMSPartnerError),
        (sp.ValidationError, ValueError),
        (sp.APIError, sp.SMSPartnerError),
        (sp.AuthenticationError, sp.APIError),
        (sp.PermissionDeniedError, sp.APIError),
        (sp.NotFoundError, sp.APIError),
        (sp.InsufficientCreditError, sp.APIError),
        (sp.ConflictError, sp.APIError),
        (sp.InvalidRequestError, sp.APIError),
        (sp.RateLimitError, sp.APIError),
        (sp.ServerError, sp.APIError),
        (sp.RouteNotFoundError, sp.APIError),
        (sp.APIConnectionError, sp.SMSPartnerError),
        (sp.APITimeoutError, sp.APIConnectionError),
        (sp.DecodeError, sp.SMSPartnerError),
        (sp.OutcomeUnknownError, sp.SMSPartnerError),
        (sp.SMSPartnerError, Exception),
    ],
)
def test_error_tree(cls: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(cls, parent)


@pytest.mark.parametrize(
    "cls", [sp.APIConnectionError, sp.DecodeError, sp.OutcomeUnknownError, sp.APIError]
)
def test_branches_are_disjoint(cls: type[Exception]) -> None:
    others = {sp.APIConnectionError, sp.DecodeError, sp.OutcomeUnknownError, sp.APIError} - {cls}
    assert not any(issubclass(cls, other) for other in others)
    assert not issubclass(cls, ValueError)


def test_api_error_repr() -> None:
    error = sp.NotFoundError("absent", code=7, status_code=200, endpoint="subaccount/credit/add")
    assert repr(error) == (
        "NotFoundError(message='absent', code=7, status_code=200, endpoint='subaccount/credit/add')"
    )


def test_code_table_covers_every_endpoint() -> None:
    assert set(CODES) == set(ALL_CALLS)


@pytest.mark.anyio
@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("120", 120.0), (None, None)])
async def test_503_keeps_its_retry_after(header: str | None, seconds: float | None) -> None:
    headers = {} if header is None else {"Retry-After": header}
    answer = httpx.Response(503, json={"success": False, "message": "busy"}, headers=headers)
    server = Server(always(answer))
    async with server.client(retry=sp.RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(sp.ServerError) as info:
            await client.account()
    assert info.value.status_code == 503
    assert info.value.retry_after == seconds
    # Sent to a write, the same answer is an unknown outcome; the cause keeps the wait.
    async with server.client(retry=sp.RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(sp.OutcomeUnknownError) as unknown:
            await client.subaccounts.add_credit("tok", "1")
    assert isinstance(unknown.value.__cause__, sp.ServerError)
    assert unknown.value.__cause__.retry_after == seconds


def test_server_error_takes_retry_after() -> None:
    assert sp.ServerError("busy", status_code=503, retry_after=2.0).retry_after == 2.0
    assert sp.ServerError("broken", status_code=500).retry_after is None
