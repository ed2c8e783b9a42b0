"""List pages and credit answers, decoded by the cattrs converters alone, whatever they hold.

Any answer either decodes into the models or raises :class:`DecodeError` naming where it went
wrong: nothing else escapes the converter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspartner_async import CreditTransfer, DecodeError, SubaccountPage
from smspartner_async._converter import (  # pyright: ignore[reportPrivateUsage]
    decode_page,
    decode_transfer,
    loads,
)

ROW = {
    "id": 1,
    "email": "a@b.fr",
    "type": "simple",
    "token": "t1",
    "apiKey": "k1",
    "createdAt": "2016-03-04 11:23:14",
    "credits": {"balance": "0.800", "currency": "EUR"},
}
PAGE = {"success": True, "code": 200, "total": 1, "nb_per_page": 20, "page": 1, "data": [ROW]}
TRANSFER = {
    "success": True,
    "code": 200,
    "credit": 2869.2,
    "subaccountCredit": 61.8,
    "currency": "EUR",
}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["0.800", "1e3", "2016-03-04 11:23:14", "2016-03-04T11:23:14", " 5 ", "NaN"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _mutated(template: dict[str, Any], path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    data = loads(json.dumps(template).encode())  # a deep copy, as the wire gives
    target = data
    for step in path[:-1]:
        target = target[step]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def _decodes_or_says_where(decode: Any, cls: type[Any], data: Any) -> None:
    errors: Sequence[str] = ()
    try:
        decoded = decode(data, endpoint="e", status_code=200)
    except DecodeError as exc:
        errors = exc.errors or ("no error listed",)
    else:
        assert type(decoded) is cls
    assert all("@ $" in error for error in errors)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.sampled_from(_paths(PAGE)), values, st.booleans())
def test_any_page_decodes_or_says_where(path: tuple[Any, ...], value: Any, drop: bool) -> None:
    _decodes_or_says_where(decode_page, SubaccountPage, _mutated(PAGE, path, value, drop))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.sampled_from(_paths(TRANSFER)), values, st.booleans())
def test_any_transfer_decodes_or_says_where(path: tuple[Any, ...], value: Any, drop: bool) -> None:
    _decodes_or_says_where(decode_transfer, CreditTransfer, _mutated(TRANSFER, path, value, drop))


def test_the_documented_answers_decode() -> None:
    page = decode_page(loads(json.dumps(PAGE).encode()), endpoint="e", status_code=200)
    assert page.items[0].credits.balance == Decimal("0.800")
    transfer = decode_transfer(loads(json.dumps(TRANSFER).encode()), endpoint="e", status_code=200)
    assert transfer.account_balance == Decimal("2869.2")
    assert type(transfer.account_balance) is Decimal


@pytest.mark.parametrize("drop", [True, False], ids=["missing", "null"])
@pytest.mark.parametrize("key", ["email", "apiKey", "createdAt"])
def test_optional_row_fields_read_as_none(key: str, drop: bool) -> None:
    page = decode_page(_mutated(PAGE, ("data", 0, key), None, drop), endpoint="e", status_code=200)
    field = {"email": "email", "apiKey": "api_key", "createdAt": "created_at"}[key]
    assert getattr(page.items[0], field) is None


@pytest.mark.parametrize("rows", [{}, "", None, 0])
def test_rows_that_are_not_a_list_are_a_decode_error(rows: object) -> None:
    with pytest.raises(DecodeError) as info:
        decode_page({**PAGE, "data": rows}, endpoint="e", status_code=200)
    assert any("$.data" in error for error in info.value.errors)
