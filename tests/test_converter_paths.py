"""The hand-written readers for list pages and credit answers agree with the cattrs converters.

``decode_page`` and ``decode_transfer`` try a quick reader first and fall back on the
converters for anything unusual. Whatever the answer, the two paths must never disagree: the
quick one either builds exactly what the converters build, or declines.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smspartner_async import CreditTransfer, DecodeError, Subaccount, SubaccountPage
from smspartner_async._converter import (  # pyright: ignore[reportPrivateUsage]
    _quick_page,
    _quick_transfer,
    _slot_setters,
    loads,
    structure,
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


def _agree(quick: Any, cls: type[Any], data: Any) -> None:
    try:
        slow = structure(data, cls, endpoint="e", status_code=200)
    except DecodeError:
        slow = None
    try:
        fast = quick(data)
    except Exception:  # declining is always allowed: the converters then decide
        return
    assert slow is not None, "the quick reader accepted what the converters refuse"
    assert fast == slow


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.sampled_from(_paths(PAGE)), values, st.booleans())
def test_page_reader_agrees_with_the_converters(
    path: tuple[Any, ...], value: Any, drop: bool
) -> None:
    _agree(_quick_page, SubaccountPage, _mutated(PAGE, path, value, drop))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.sampled_from(_paths(TRANSFER)), values, st.booleans())
def test_transfer_reader_agrees_with_the_converters(
    path: tuple[Any, ...], value: Any, drop: bool
) -> None:
    _agree(_quick_transfer, CreditTransfer, _mutated(TRANSFER, path, value, drop))


def test_the_documented_answers_take_the_quick_path() -> None:
    page = _quick_page(loads(json.dumps(PAGE).encode()))
    assert page.items[0].credits.balance == Decimal("0.800")
    transfer = _quick_transfer(loads(json.dumps(TRANSFER).encode()))
    assert transfer.account_balance == Decimal("2869.2")


def test_rows_filled_slot_by_slot_are_the_models_the_constructor_builds() -> None:
    row = _quick_page(loads(json.dumps(PAGE).encode())).items[0]
    built = Subaccount(**{f.name: getattr(row, f.name) for f in attrs.fields(Subaccount)})
    assert row == built
    assert repr(row) == repr(built)
    assert hash(row) == hash(built)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        row.email = "changed@b.fr"  # type: ignore[misc]


@pytest.mark.parametrize(
    "extra",
    [
        {"x": attrs.field(validator=attrs.validators.instance_of(int))},
        {"x": attrs.field(converter=int)},
        {"x": attrs.field(), "__attrs_post_init__": lambda self: None},
    ],
)
def test_slot_setters_refuse_a_class_whose_init_does_more(extra: dict[str, Any]) -> None:
    cls = attrs.frozen(type("Model", (), dict(extra)))
    with pytest.raises(TypeError, match="does more than store its fields"):
        _slot_setters(cls, "x")


@pytest.mark.parametrize("names", [("x",), ("x", "y", "z"), ("x", "w")])
def test_slot_setters_refuse_names_that_are_not_all_the_fields(names: tuple[str, ...]) -> None:
    cls = attrs.frozen(type("Model", (), {"x": attrs.field(), "y": attrs.field()}))
    with pytest.raises(TypeError, match="fields are not"):
        _slot_setters(cls, *names)
    assert len(_slot_setters(cls, "y", "x")) == 2  # any order, each field once


@pytest.mark.parametrize("drop", [True, False], ids=["missing", "null"])
@pytest.mark.parametrize("key", ["email", "apiKey", "createdAt"])
def test_optional_row_fields_take_the_quick_path_as_none(key: str, drop: bool) -> None:
    data = _mutated(PAGE, ("data", 0, key), None, drop)
    quick = _quick_page(data)  # accepted, not declined
    assert quick == structure(data, SubaccountPage, endpoint="e", status_code=200)
    field = {"email": "email", "apiKey": "api_key", "createdAt": "created_at"}[key]
    assert getattr(quick.items[0], field) is None
