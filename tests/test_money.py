"""Money: amounts checked before sending, sent as plain decimal digits, read back exactly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from _support import Server, answer_for, body_of, ok, row

import smspartner_async as sp

pytestmark = pytest.mark.usefixtures("no_backoff")

Send = Callable[[sp.AsyncSMSPartner, Any], Awaitable[object]]


async def _add(client: sp.AsyncSMSPartner, amount: Any) -> object:
    return await client.subaccounts.add_credit("tok", amount)


async def _remove(client: sp.AsyncSMSPartner, amount: Any) -> object:
    return await client.subaccounts.remove_credit("tok", amount)


async def _create(client: sp.AsyncSMSPartner, amount: Any) -> object:
    return await client.subaccounts.create("simple", credit_to_attribute=amount)


#: (call, the field a refusal names)
SENDERS: list[tuple[Send, str]] = [
    (_add, "amount"),
    (_remove, "amount"),
    (_create, "credit_to_attribute"),
]


ACCEPTED = [
    (Decimal("25"), "25"),
    (Decimal("2.5"), "2.5"),
    (Decimal("2.50"), "2.5"),
    (Decimal("0.001"), "0.001"),
    (Decimal("1.000"), "1"),
    (Decimal("1E+2"), "100"),
    (Decimal("12345678901234.567"), "12345678901234.567"),
    (1, "1"),
    (100, "100"),
    ("100", "100"),
    ("2.5", "2.5"),
    (" 7.125 ", "7.125"),
    ("\t5\t", "5"),
    (".5", "0.5"),
    ("5.", "5"),
    ("5.0000", "5"),
    (0.1, "0.1"),  # through repr, not the binary fraction
    (2.675, "2.675"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("amount", "wire"), ACCEPTED)
async def test_accepted_amounts_go_out_as_plain_digits(amount: object, wire: str) -> None:
    # every amount-taking call: add_credit, remove_credit, create(credit_to_attribute=). As in
    # the docs' samples, `credit` is a JSON string and `creditToAttribute` a JSON number, both
    # written from the Decimal's own digits.
    server = Server(answer_for)
    async with server.client() as client:
        for send, _ in SENDERS:
            await send(client, amount)
    add, remove, create = (r.content for r in server.requests)
    assert f'"credit":"{wire}"'.encode() in add
    assert f'"credit":"{wire}"'.encode() in remove
    assert f'"creditToAttribute":{wire}}}'.encode() in create


REFUSED = [
    pytest.param(Decimal("NaN"), id="Decimal-NaN"),
    pytest.param(Decimal("sNaN"), id="Decimal-sNaN"),
    pytest.param(Decimal("Infinity"), id="Decimal-inf"),
    pytest.param(Decimal("-Infinity"), id="Decimal-minus-inf"),
    pytest.param(float("nan"), id="float-nan"),
    pytest.param(float("inf"), id="float-inf"),
    pytest.param("NaN", id="str-NaN"),
    pytest.param("Infinity", id="str-inf"),
    pytest.param(0, id="int-zero"),
    pytest.param(Decimal(0), id="Decimal-zero"),
    pytest.param(Decimal("-0"), id="Decimal-minus-zero"),
    pytest.param("0.000", id="str-zero"),
    pytest.param(0.0, id="float-zero"),
    pytest.param(-1, id="int-negative"),
    pytest.param(Decimal("-0.5"), id="Decimal-negative"),
    pytest.param("-2", id="str-negative"),
    pytest.param(-0.1, id="float-negative"),
    pytest.param(Decimal("0.0001"), id="4-places"),
    pytest.param("1.2345", id="str-4-places"),
    pytest.param(Decimal("10.0005"), id="Decimal-4-places"),
    pytest.param(1.1 + 2.2, id="float-with-binary-noise"),
    pytest.param(1e-4, id="float-tiny"),
    pytest.param(5e-324, id="float-subnormal"),
    pytest.param("1e-999999999", id="str-below-Emin"),
    pytest.param(Decimal("1E-1000000"), id="Decimal-below-Emin"),
    pytest.param(Decimal("5.0000000000000000000000000000001"), id="more-than-28-digits"),
    pytest.param(1e20, id="too-large"),
    pytest.param(Decimal("1E+15"), id="Decimal-too-large"),
    pytest.param(True, id="bool-True"),
    pytest.param(False, id="bool-False"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("abc", id="junk"),
    pytest.param("12,5", id="comma"),
    pytest.param("5 EUR", id="unit"),
    pytest.param("0x10", id="hex"),
    pytest.param([5], id="list"),
    pytest.param(b"5", id="bytes"),
    pytest.param(complex(1, 0), id="complex"),
    pytest.param("1e3", id="exponent"),
    pytest.param("1E2", id="exponent-upper"),
    pytest.param("1_000", id="underscore"),
    pytest.param("\u0665", id="arabic-indic-five"),
    pytest.param("\uff15", id="fullwidth-five"),
    pytest.param("\u0968.5", id="devanagari-two"),
    pytest.param("+-5", id="two-signs"),
    pytest.param("5\n", id="newline"),
    pytest.param(".", id="point-only"),
    pytest.param("1" * 5000, id="thousands-of-digits"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("amount", REFUSED)
async def test_refused_amounts_send_nothing(amount: object) -> None:
    server = Server()  # any request fails the test
    async with server.client() as client:
        for send, field in SENDERS:
            with pytest.raises(sp.ValidationError) as info:
                await send(client, amount)
            assert info.value.field == field
            assert isinstance(info.value, ValueError)
            assert field in str(info.value)
    assert server.count == 0


@pytest.mark.anyio
@pytest.mark.parametrize("send", [_add, _remove])
async def test_none_is_not_an_amount(send: Send) -> None:
    server = Server()
    async with server.client() as client:
        with pytest.raises(sp.ValidationError) as info:
            await send(client, None)
    assert info.value.field == "amount"
    assert server.count == 0


@pytest.mark.anyio
async def test_create_without_credit_sends_none() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        await _create(client, None)
    assert "creditToAttribute" not in body_of(server.requests[0])["parameters"]


# -- exact reading ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_credit_answer_floats_become_exact_decimals() -> None:
    server = Server(lambda r: ok(credit=2869.2, subaccountCredit=61.8, currency="EUR"))
    async with server.client() as client:
        transfer = await client.subaccounts.add_credit("tok", 1)
    assert transfer.account_balance == Decimal("2869.2")
    assert str(transfer.account_balance) == "2869.2"
    assert transfer.subaccount_balance == Decimal("61.8")
    assert isinstance(transfer.account_balance, Decimal)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (b"0.1", "0.1"),
        (b"0.30000000000000004", "0.30000000000000004"),
        (b"1234567890.123", "1234567890.123"),
        (b"42", "42"),
        (b"0", "0"),
        (b"1.5e3", "1.5E+3"),
    ],
)
async def test_json_numbers_are_read_digit_for_digit(wire: bytes, expected: str) -> None:
    content = b'{"success":true,"code":200,"credit":%s,"subaccountCredit":%s,"currency":"EUR"}' % (
        wire,
        wire,
    )
    server = Server(lambda r: httpx.Response(200, content=content))
    async with server.client() as client:
        transfer = await client.subaccounts.remove_credit("tok", 1)
    assert str(transfer.account_balance) == expected
    assert transfer.subaccount_balance == Decimal(expected)


@pytest.mark.anyio
@pytest.mark.parametrize("text", ["1e3", "1_000", "\u0665", "\uff15"])
async def test_a_refused_text_amount_shows_what_is_accepted(text: str) -> None:
    with pytest.raises(sp.ValidationError) as info:
        sp.parse_amount(text)
    assert str(info.value) == (
        "amount must be written as plain digits with an optional point and at most 3 decimals "
        f"(like 25 or 2.5), got {text!r}"
    )


ABSURD = [
    pytest.param("1e999999", id="huge-exponent"),
    pytest.param("1e-999999", id="tiny-exponent"),
    pytest.param("0E-999999", id="zero-tiny-exponent"),
    pytest.param("1" * 3000, id="thousands-of-digits"),
    pytest.param("0." + "1" * 3000, id="thousands-of-decimals"),
    pytest.param("1e16", id="past-a-quadrillion"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("balance", ABSURD)
async def test_an_absurd_string_balance_is_a_decode_error(balance: str) -> None:
    server = Server(lambda r: _one_row(balance))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.subaccounts.list_page()
    assert "$.data[0].credits.balance" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("number", ABSURD)
async def test_an_absurd_json_number_balance_is_a_decode_error(number: str) -> None:
    content = b'{"success":true,"code":200,"credit":%s,"subaccountCredit":1.5,"currency":"EUR"}'
    server = Server(lambda r: httpx.Response(200, content=content % number.encode()))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await client.subaccounts.add_credit("tok", 1)
    assert isinstance(info.value.__cause__, sp.DecodeError)
    assert "$.credit" in str(info.value.__cause__)


@pytest.mark.anyio
async def test_an_absurd_account_balance_is_a_decode_error() -> None:
    answer = {"user": {"username": "u"}, "credits": {"balance": "1e999999", "currency": "EUR"}}
    server = Server(lambda r: ok(**answer))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError):
            await client.account()


@pytest.mark.anyio
@pytest.mark.parametrize("balance", ["0.800", "0.000", "10225.119", "61.800", "3"])
async def test_string_balances_keep_their_places(balance: str) -> None:
    server = Server(lambda r: _one_row(balance))
    async with server.client() as client:
        page = await client.subaccounts.list_page()
    got = page.items[0].credits.balance
    assert isinstance(got, Decimal)
    assert str(got) == balance
    assert got.as_tuple() == Decimal(balance).as_tuple()


def _one_row(balance: str) -> httpx.Response:
    return ok(total=1, nb_per_page=20, page=1, data=[row(1, balance=balance)])


@pytest.mark.anyio
async def test_account_balance_is_exact() -> None:
    answer = {
        "user": {"username": "u"},
        "credits": {"solde": "10225.119", "balance": "10225.119", "currency": "EUR"},
    }
    server = Server(lambda r: ok(**answer))
    async with server.client() as client:
        info = await client.account()
    assert str(info.balance) == "10225.119"
    assert isinstance(info.balance, Decimal)


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("110.0", "110.000"),
        ("432.500", "432.500"),
        ("2869.2", "2,869.200"),
        ("5", "5.000"),
        ("0.0005", "0.0005"),  # never rounded
        ("1E+2", "100.000"),
    ],
)
def test_money_is_shown_with_one_rule(amount: str, shown: str) -> None:
    from smspartner_async._cli._output import money  # noqa: PLC0415 - the CLI's printer
    from smspartner_async._money import format_money  # noqa: PLC0415

    assert format_money(Decimal(amount)) == shown
    assert money(Decimal(amount)) == shown  # the CLI prints money the same way


def test_a_one_item_summary_says_item() -> None:
    from smspartner_async._bulk import BulkReport, BulkResult  # noqa: PLC0415

    report = BulkReport(results=[BulkResult(token="t", amount=Decimal("1"), status="applied")])
    assert report.summary().startswith("1 item: 1 applied (1.000 EUR)")
