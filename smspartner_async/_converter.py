"""The one place that knows the wire's names and types: JSON answers in, models out, and the
JSON text of requests out (:func:`dumps`, which writes :class:`JSONNumber` digits verbatim).

Two cattrs converters share the same hooks. The fast one (no detailed validation) structures
every answer; when it fails, the answer is structured again by the detailed one, whose
``ClassValidationError`` becomes readable paths (``$.data[3].credits.balance``) in a
:class:`DecodeError`. Bad answers are rare, so they pay for the detail.

Unknown keys are ignored: the server adds fields over time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import AttributeValidationNote
from cattrs.gen import make_dict_structure_fn, override

from ._errors import DecodeError
from ._models import (
    AccountInfo,
    CreatedSubaccount,
    CreditTransfer,
    Subaccount,
    SubaccountPage,
)

__all__ = [
    "JSONNumber",
    "decode_account",
    "decode_created",
    "decode_page",
    "decode_transfer",
    "dumps",
    "loads",
    "structure",
]

T = TypeVar("T")


_decoder = json.JSONDecoder(parse_float=Decimal)


def loads(content: bytes) -> Any:
    """Parse JSON with every non-integer number as an exact ``Decimal``, never a float.

    What ``json.loads(content, parse_float=Decimal)`` does, without building a new decoder
    (and its scanner) on every call.
    """
    return _decoder.decode(content.decode(json.detect_encoding(content), "surrogatepass"))


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _plain_number(_: object, __: object, value: str) -> None:
    if not _JSON_NUMBER.fullmatch(value):
        raise ValueError(f"not a plain JSON number: {value!r}")


@attrs.frozen
class JSONNumber:
    """A number a request sends as these exact digits: ``JSONNumber("2.5")`` is ``2.5`` on the
    wire. Built from a ``Decimal``'s digits (``to_wire``), so no float ever rounds it."""

    digits: str = attrs.field(validator=_plain_number)


def dumps(payload: Mapping[str, object]) -> bytes:
    """A request's JSON body: compact, UTF-8, with each :class:`JSONNumber` written as its
    digits (the standard encoder would need a float for that, and a float can round)."""
    return _json_text(payload).encode()


def _json_text(value: object) -> str:
    if type(value) is JSONNumber:
        return value.digits
    if isinstance(value, Mapping):
        items = cast("Mapping[str, object]", value).items()
        return "{" + ",".join([f"{_encode(k)}:{_json_text(v)}" for k, v in items]) + "}"
    return _encode(value)


def _structure_str(value: object, _: object) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


#: Like int()'s own limit on digit strings: ``1e999999999`` is valid JSON, and int() of it
#: would build a billion-digit number.
_MAX_INT_DIGITS = 4300


def _structure_int(value: object, _: object) -> int:
    if type(value) is int:
        return value
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < _MAX_INT_DIGITS
        and value == value.to_integral_value()
    ):
        return int(value)
    if type(value) is str and value.isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


#: Bounds on an amount of money read from an answer: at most this many characters or digits,
#: and an adjusted exponent from -30 to 15 (under 10**16 euros). ``1e999999`` or a number of
#: thousands of digits is valid JSON, but no balance: it is a DecodeError, not a Decimal that
#: would overflow or crawl through every later sum.
_MAX_MONEY_DIGITS = 50
_MIN_MONEY_ADJUSTED = -30
_MAX_MONEY_ADJUSTED = 15


def _money_in_range(number: Decimal) -> bool:
    """Finite, within the magnitude bounds; the digit count is the caller's to check."""
    return number.is_finite() and _MIN_MONEY_ADJUSTED <= number.adjusted() <= _MAX_MONEY_ADJUSTED


def _structure_decimal(value: object, _: object) -> Decimal:
    # Balances come as strings ("0.800"), credit answers as JSON numbers (already Decimal).
    if type(value) is str:
        if len(value) > _MAX_MONEY_DIGITS:
            raise ValueError(f"not an amount: more than {_MAX_MONEY_DIGITS} characters")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
        # A string's digits are bounded by its length already.
        if _money_in_range(number):
            return number
    elif isinstance(value, Decimal):
        number = value
    elif type(value) is int:
        number = Decimal(value)
    else:
        raise TypeError(f"expected a decimal number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError("not a finite number")
    if not _money_in_range(number) or len(number.as_tuple().digits) > _MAX_MONEY_DIGITS:
        raise ValueError(
            f"not an amount: outside 1e{_MIN_MONEY_ADJUSTED}..1e{_MAX_MONEY_ADJUSTED + 1} "
            f"or more than {_MAX_MONEY_DIGITS} digits"
        )
    return number


def _structure_datetime(value: object, _: object) -> datetime:
    if type(value) is str:
        return datetime.fromisoformat(value)
    raise TypeError(f"expected a date string, got {type(value).__name__}")


@attrs.frozen
class _CreatedRef:
    email: str
    token: str


@attrs.frozen
class _CreateAnswer:
    subaccount: _CreatedRef
    send_confirm_mail_to: str | None = None
    parent_email: str | None = None


@attrs.frozen
class _User:
    username: str
    firstname: str | None = None
    lastname: str | None = None


@attrs.frozen
class _MeCredits:
    currency: str
    balance: Decimal | None = None
    solde: Decimal | None = None
    sms_credits: int | None = None
    sms_to_send: int | None = None


@attrs.frozen
class _MeAnswer:
    user: _User
    credits: _MeCredits


#: Model field -> wire key, per class. Each field name here is unique across the classes, which
#: lets error paths be rewritten to wire names without knowing the class (see _to_wire_paths).
_RENAMES: dict[type[Any], dict[str, str]] = {
    Subaccount: {"api_key": "apiKey", "created_at": "createdAt"},
    SubaccountPage: {"per_page": "nb_per_page", "items": "data"},
    CreditTransfer: {"account_balance": "credit", "subaccount_balance": "subaccountCredit"},
    _CreateAnswer: {"send_confirm_mail_to": "sendConfirmMailTo"},
    _MeCredits: {"sms_credits": "creditSms", "sms_to_send": "toSend"},
}
_WIRE_NAMES = {field: wire for names in _RENAMES.values() for field, wire in names.items()}

#: Wire keys a row may lack or send as ``null``, per class: read as ``None``. The models type
#: them ``X | None`` without a default (SPEC fixes their positional order), so a missing key
#: is filled in before structuring.
_ABSENT_AS_NONE: dict[type[Any], tuple[str, ...]] = {
    Subaccount: ("email", "apiKey", "createdAt"),
}


def _make_converter(*, detailed: bool) -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=detailed)
    leaves: dict[Any, Callable[[Any, Any], Any]] = {
        str: _structure_str,
        int: _structure_int,
        Decimal: _structure_decimal,
        datetime: _structure_datetime,
    }
    for leaf, structure_leaf in leaves.items():
        conv.register_structure_hook(leaf, structure_leaf)
        # cattrs' own Optional hook dispatches on every value; this one calls the leaf directly.
        conv.register_structure_hook(leaf | None, _or_none(structure_leaf))
    rows: Any = list[Subaccount]

    def rows_hook(cls: Any) -> Callable[[Any, Any], Any]:
        # Made when SubaccountPage's hook asks for it, after Subaccount's (_RENAMES' order).
        return _only_a_list(list_structure_factory(cls, conv))

    conv.register_structure_hook_factory(lambda t: t == rows, rows_hook)
    for cls, names in _RENAMES.items():
        overrides: dict[str, Any] = {f: override(rename=wire) for f, wire in names.items()}
        hook: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv, **overrides)
        if cls in _ABSENT_AS_NONE:
            hook = _absent_as_none(hook, _ABSENT_AS_NONE[cls])
        conv.register_structure_hook(cls, hook)
    return conv


def _or_none(hook: Callable[[Any, Any], T]) -> Callable[[Any, Any], T | None]:
    def structure(value: Any, cls: Any) -> T | None:
        return None if value is None else hook(value, cls)

    return structure


def _only_a_list(hook: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    """``hook`` for JSON arrays alone: cattrs' list hook takes any iterable (``{}`` or ``""``
    would read as no rows)."""

    def structure(value: Any, cls: Any) -> T:
        if type(value) is not list:
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return hook(value, cls)

    return structure


def _absent_as_none(
    hook: Callable[[Any, Any], T], keys: tuple[str, ...]
) -> Callable[[Any, Any], T]:
    wanted = frozenset(keys)

    def structure(data: Any, cls: Any) -> T:
        if type(data) is dict and not wanted <= data.keys():
            data = {**dict.fromkeys(keys), **cast("dict[str, Any]", data)}
        return hook(data, cls)

    return structure


def _to_wire_paths(exc: BaseException) -> None:
    """Rename cattrs' attribute notes so paths read ``$.data[0]``, not ``$.items[0]``."""
    notes = getattr(exc, "__notes__", None)
    if notes:
        exc.__notes__ = [
            AttributeValidationNote(str(n), _WIRE_NAMES.get(n.name, n.name), n.type)
            if isinstance(n, AttributeValidationNote)
            else n
            for n in notes
        ]
    if isinstance(exc, BaseExceptionGroup):
        for sub in cast("BaseExceptionGroup[BaseException]", exc).exceptions:
            _to_wire_paths(sub)


_fast = _make_converter(detailed=False)
_detailed = _make_converter(detailed=True)


def structure(data: object, cls: type[T], *, endpoint: str, status_code: int) -> T:
    """Structure a decoded answer into ``cls``, or raise :class:`DecodeError` saying where."""
    try:
        return _fast.structure(data, cls)
    except Exception:  # any failure: structure again, in detail, to say exactly where
        return _structure_in_detail(data, cls, endpoint=endpoint, status_code=status_code)


def _structure_in_detail(data: object, cls: type[T], *, endpoint: str, status_code: int) -> T:
    try:
        return _detailed.structure(data, cls)
    except Exception as exc:
        _to_wire_paths(exc)
        errors = cattrs.transform_error(exc, path="$")
        raise DecodeError(
            f"{endpoint}: unexpected answer: {'; '.join(errors)}",
            status_code=status_code,
            endpoint=endpoint,
            errors=errors,
        ) from None


def decode_page(data: object, *, endpoint: str, status_code: int) -> SubaccountPage:
    """A ``subaccount/list`` answer."""
    return structure(data, SubaccountPage, endpoint=endpoint, status_code=status_code)


def decode_transfer(data: object, *, endpoint: str, status_code: int) -> CreditTransfer:
    """A credit add/remove answer."""
    return structure(data, CreditTransfer, endpoint=endpoint, status_code=status_code)


def decode_created(data: object, *, endpoint: str, status_code: int) -> CreatedSubaccount:
    """A create answer: the nested ``subaccount`` object flattened into the model."""
    answer = structure(data, _CreateAnswer, endpoint=endpoint, status_code=status_code)
    return CreatedSubaccount(
        email=answer.subaccount.email,
        token=answer.subaccount.token,
        send_confirm_mail_to=answer.send_confirm_mail_to,
        parent_email=answer.parent_email,
    )


def decode_account(data: object, *, endpoint: str, status_code: int) -> AccountInfo:
    """A ``me`` answer. ``balance`` and ``solde`` carry the same figure; either will do."""
    answer = structure(data, _MeAnswer, endpoint=endpoint, status_code=status_code)
    credits = answer.credits
    balance = credits.balance if credits.balance is not None else credits.solde
    if balance is None:
        raise DecodeError(
            f"{endpoint}: unexpected answer: required field missing @ $.credits.balance",
            status_code=status_code,
            endpoint=endpoint,
            errors=["required field missing @ $.credits.balance"],
        )
    return AccountInfo(
        username=answer.user.username,
        firstname=answer.user.firstname,
        lastname=answer.user.lastname,
        balance=balance,
        currency=credits.currency,
        sms_credits=credits.sms_credits,
        sms_to_send=credits.sms_to_send,
    )
