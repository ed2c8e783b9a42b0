"""The converter's tolerance and its refusals, on answers the hand-written fast path passes on.

Counts written as ``40.0`` or ``"40"`` still read as integers; a date that is not a string, a
currency that is not a string or a count too large to build are a :class:`DecodeError` that
names the field by its wire path.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _support import TRANSFER, Server, ok, raw, row

import smspartner_async as sp

pytestmark = pytest.mark.anyio


async def list_page(answer: httpx.Response) -> sp.SubaccountPage:
    async with Server(lambda request: answer).client() as client:
        return await client.subaccounts.list_page()


def page(**changes: Any) -> httpx.Response:
    return ok(**{"total": 1, "nb_per_page": 20, "page": 1, "data": [row(1)], **changes})


@pytest.mark.parametrize("written", ["40.0", "40", '"40"', "4.0E1"])
async def test_a_count_written_as_a_whole_decimal_or_a_digit_string(written: str) -> None:
    body = '{"success": true, "code": 200, "total": %s, "nb_per_page": 20, "page": 1, "data": []}'
    result = await list_page(raw(body % written))
    assert result.total == 40
    assert type(result.total) is int


async def test_an_id_written_as_a_digit_string() -> None:
    result = await list_page(page(data=[{**row(1), "id": "7"}]))
    assert result.items[0].id == 7


@pytest.mark.parametrize(
    ("written", "path"),
    [
        ("4.5", "$.total"),  # not whole
        ("1e999999999", "$.total"),  # whole, but a billion digits: refused, not built
        ('"²"', "$.total"),  # a digit int() refuses
    ],
)
async def test_a_count_that_is_no_usable_integer(written: str, path: str) -> None:
    body = '{"success": true, "code": 200, "total": %s, "nb_per_page": 20, "page": 1, "data": []}'
    with pytest.raises(sp.DecodeError) as info:
        await list_page(raw(body % written))
    assert any(path in error for error in info.value.errors), info.value.errors


async def test_a_date_that_is_not_a_string() -> None:
    with pytest.raises(sp.DecodeError) as info:
        await list_page(page(data=[{**row(1), "createdAt": 1457090594}]))
    [error] = info.value.errors
    assert error.endswith("@ $.data[0].createdAt")


async def test_a_transfer_whose_currency_is_not_a_string() -> None:
    server = Server(lambda request: ok(**{**TRANSFER, "currency": 978}))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await client.subaccounts.add_credit("tok1", "5")
    # The money may have moved: the unreadable answer is the cause, not a plain failure.
    cause = info.value.__cause__
    assert isinstance(cause, sp.DecodeError)
    assert any("$.currency" in error for error in cause.errors), cause.errors
