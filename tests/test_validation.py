"""Input checks: a bad argument is a ValidationError (also a ValueError) naming it; none sent."""

from __future__ import annotations

from typing import Any

import pytest
from _support import CANARY, Server, answer_for, body_of, page_answer

import smspartner_async as sp

pytestmark = pytest.mark.usefixtures("no_backoff")


async def refused(field: str, call: Any) -> sp.ValidationError:
    """Run ``call(client)`` against a server that fails on any request; return the error."""
    server = Server()
    async with server.client() as client:
        with pytest.raises(sp.ValidationError) as info:
            await call(client)
    assert server.count == 0, "nothing may be sent"
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, sp.SMSPartnerError)
    assert error.field == field
    assert field in str(error)
    return error


# -- create -------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "kind", ["", "Simple", "ADVANCED", "simple ", "premium", None, 1, b"simple"]
)
async def test_create_type(kind: object) -> None:
    await refused("type", lambda c: c.subaccounts.create(kind))


@pytest.mark.anyio
async def test_advanced_needs_an_email() -> None:
    await refused("email", lambda c: c.subaccounts.create("advanced", is_buyer=True))


@pytest.mark.anyio
async def test_advanced_needs_is_buyer() -> None:
    await refused("is_buyer", lambda c: c.subaccounts.create("advanced", email="a@b.fr"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "email",
    [
        "",
        " ",
        "plain",
        "no-at.example.com",
        "@example.com",
        "user@",
        "user@domain",
        "user@@example.com",
        "a@b@c.fr",
        "user name@example.com",
        "user@exa mple.com",
        "user@example.",
        "user@example.com\n",
        "us\x00er@example.com",
        "us\x01er@example.com",
        "user@exam\x7fple.com",
        "user@example.com\x85",
        "user\u2028x@example.com",
        "x" * 250 + "@example.com",
        5,
        b"a@b.fr",
    ],
)
async def test_bad_emails(email: object) -> None:
    for kind in ("simple", "advanced"):
        await refused(
            "email", lambda c, k=kind: c.subaccounts.create(k, email=email, is_buyer=False)
        )


@pytest.mark.anyio
@pytest.mark.parametrize("value", [0, 1, "yes", "true", [], 1.0])
async def test_is_buyer_must_be_a_bool(value: object) -> None:
    await refused(
        "is_buyer", lambda c: c.subaccounts.create("advanced", email="a@b.fr", is_buyer=value)
    )


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["title", "firstname", "lastname"])
@pytest.mark.parametrize(
    "value",
    ["", "   ", 5, "x" * 256, "Ada\r\nX-Injected: 1", "Ada\n", "Ada\x00", "A\tda", "\x1b[2J"],
)
async def test_free_text_fields(field: str, value: object) -> None:
    error = await refused(field, lambda c: c.subaccounts.create("simple", **{field: value}))
    if isinstance(value, str) and value.strip() and len(value) < 256:
        assert "control characters" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["Ada Lovelace", "Zoë d'Été", "李 小龍", "Mr."])
async def test_free_text_fields_without_control_characters_are_sent(value: str) -> None:
    server = Server(answer_for)
    async with server.client() as client:
        await client.subaccounts.create("simple", title=value, firstname=value, lastname=value)
    parameters = body_of(server.requests[0])["parameters"]
    assert parameters["title"] == parameters["firstname"] == parameters["lastname"] == value


@pytest.mark.anyio
async def test_the_first_bad_argument_is_named() -> None:
    # type is checked before anything else
    await refused("type", lambda c: c.subaccounts.create("x", email="bad", is_buyer=1))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "email", ["a@b.fr", "first.last+tag@sub.example.co.uk", "x_y@domaine-long.info"]
)
async def test_good_emails_are_sent_as_given(email: str) -> None:
    server = Server(answer_for)
    async with server.client() as client:
        await client.subaccounts.create("advanced", email=email, is_buyer=True)
    assert body_of(server.requests[0])["parameters"]["email"] == email


# -- tokens -------------------------------------------------------------------------------------

BAD_TOKENS = ["", " ", "tok en", " tok", "tok\n", "tok\t1", "\x00", "x" * 256, None, 5, b"tok"]


@pytest.mark.anyio
@pytest.mark.parametrize("token", BAD_TOKENS)
async def test_tokens(token: object) -> None:
    await refused("token", lambda c: c.subaccounts.delete(token))
    await refused("token", lambda c: c.subaccounts.add_credit(token, "5"))
    await refused("token", lambda c: c.subaccounts.remove_credit(token, "5"))


# -- pages and prefetch -------------------------------------------------------------------------

BAD_COUNTS = [0, -1, True, False, "1", 1.0, 2.5, None]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "page",
    [
        *BAD_COUNTS,
        1_000_001,
        2**63,
        pytest.param(10**5000, id="10**5000"),
        pytest.param(-(10**5000), id="-10**5000"),
    ],
)
async def test_list_page_number(page: object) -> None:
    error = await refused("page", lambda c: c.subaccounts.list_page(page))
    assert "page must be an integer from 1 to 1000000" in str(error)


@pytest.mark.anyio
async def test_the_last_page_number_allowed_is_sent() -> None:
    server = Server(lambda r: page_answer([], total=0, page=1_000_000))
    async with server.client() as client:
        page = await client.subaccounts.list_page(1_000_000)
    assert page.items == []
    assert server.requests[0].url.params["page"] == "1000000"


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", BAD_COUNTS)
async def test_prefetch(prefetch: object) -> None:
    async def walk(client: sp.AsyncSMSPartner) -> None:
        async for _ in client.subaccounts.list(prefetch=prefetch):  # type: ignore[arg-type]
            pass

    await refused("prefetch", walk)


@pytest.mark.parametrize("prefetch", BAD_COUNTS)
def test_prefetch_is_checked_when_list_is_called(prefetch: object) -> None:
    client = sp.AsyncSMSPartner(api_key=CANARY)
    with pytest.raises(sp.ValidationError) as info:
        client.subaccounts.list(prefetch=prefetch)  # type: ignore[arg-type]
    assert info.value.field == "prefetch"


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(sp.ValidationError, ValueError)
    assert issubclass(sp.ValidationError, sp.SMSPartnerError)
    assert not issubclass(sp.ValidationError, sp.APIError)
    error = sp.ValidationError("amount must be positive", field="amount")
    assert error.field == "amount"
    assert sp.ValidationError("x").field is None
