"""What each emulated endpoint checks and answers, in the documented wire shapes.

Handlers are synchronous on purpose: the emulator runs each one under its lock, and a handler
without an ``await`` can never be interrupted half-way through moving money.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Final, cast

import attrs

from smspartner_async.testing._ledger import CENTS, Ledger, SubaccountType

__all__ = ["HANDLERS", "Account", "Handler", "Params", "Refusal", "positive_amount"]

Params = Mapping[str, object]
Answer = dict[str, object]

PER_PAGE: Final = 20
#: Price of one SMS, used only to derive ``creditSms`` from the balance in ``me`` answers.
SMS_PRICE: Final = Decimal("0.038")

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


class Refusal(Exception):  # noqa: N818 - it is an answer, not a failure of the emulator
    """A ``success: false`` answer. With *element_id*, the validation shape is used."""

    def __init__(self, code: int, message: str, *, element_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.element_id = element_id

    def body(self) -> Answer:
        """The JSON body of this answer."""
        if self.element_id is None:
            return {"success": False, "code": self.code, "message": self.message}
        return {
            "success": False,
            "code": self.code,
            "error": [{"elementId": self.element_id, "message": self.message}],
        }


@attrs.frozen(kw_only=True)
class Account:
    """The main account's identity and switches, as seen by one request."""

    api_key: str = attrs.field(repr=False)
    username: str
    firstname: str
    lastname: str
    currency: str
    subaccounts_enabled: bool


Handler = Callable[[Ledger, Account, Params], Answer]


def positive_amount(value: object) -> Decimal | None:
    """Parse a JSON amount (string or number) exactly; None unless finite, > 0, <= 3 decimals."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not amount.is_finite() or amount <= 0:
        return None
    # normalize() drops trailing zeros, so "2.5000" counts as one decimal, not four.
    exponent = amount.normalize().as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -3:
        return None
    return amount.quantize(CENTS)


def _money(amount: Decimal) -> str:
    return str(amount.quantize(CENTS))


def _present(params: Params, key: str) -> bool:
    return params.get(key) not in (None, "")


def _authenticate(account: Account, params: Params) -> None:
    key = params.get("apiKey")
    if key in (None, ""):
        raise Refusal(1, "The API key is required.")
    if key != account.api_key:
        raise Refusal(10, "The API key is invalid.")


def _flag(value: object) -> bool | None:
    """Read a documented 0/1 flag, accepting the spellings a JSON client may send."""
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return value in (1, "1")
    return None


def create(ledger: Ledger, account: Account, params: Params) -> Answer:
    """``POST subaccount/create``."""
    _authenticate(account, params)
    if not account.subaccounts_enabled:
        raise Refusal(2, "This account is not allowed to create sub-accounts yet.")
    sub_type = _subaccount_type(params.get("type"))
    parameters = _parameters(params.get("parameters"))
    email = _email(sub_type, parameters.get("email"))
    is_buyer = _is_buyer(sub_type, parameters)
    if email is not None and ledger.email_taken(email):
        raise Refusal(7, "An account already exists with this e-mail address.")
    credit = _credit_to_attribute(ledger, parameters)
    sub = ledger.open(
        type=sub_type,
        email=email if email is not None else ledger.generated_email(),
        credit=credit,
        operation="subaccount/create",
        is_buyer=is_buyer,
        title=_optional_text(parameters, "title"),
        firstname=_optional_text(parameters, "firstname"),
        lastname=_optional_text(parameters, "lastname"),
    )
    return {
        "success": True,
        "code": 200,
        "subaccount": {"email": sub.email, "token": sub.token},
        "sendConfirmMailTo": sub.email,
        "parent_email": account.username,
    }


def _parameters(value: object) -> Params:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Refusal(400, "parameters must be a JSON object.", element_id="parameters")
    return cast("Params", value)


def _subaccount_type(kind: object) -> SubaccountType:
    if kind in (None, ""):
        raise Refusal(4, "The sub-account type is required: simple or advanced.", element_id="type")
    if kind == "simple":
        return "simple"
    if kind == "advanced":
        return "advanced"
    raise Refusal(5, "Unknown sub-account type; use simple or advanced.", element_id="type")


def _email(sub_type: SubaccountType, email: object) -> str | None:
    """The requested address; None when a simple sub-account should get a generated one."""
    if email in (None, ""):
        if sub_type == "advanced":
            raise Refusal(6, "An e-mail address is required.", element_id="email")
        return None
    if not (isinstance(email, str) and _EMAIL.fullmatch(email)):
        raise Refusal(6, "This is not a valid e-mail address.", element_id="email")
    return email


def _is_buyer(sub_type: SubaccountType, parameters: Params) -> bool:
    if sub_type == "simple" and "isBuyer" not in parameters:
        return False
    flag = _flag(parameters.get("isBuyer"))
    if flag is None:
        raise Refusal(3, "isBuyer is required and must be 0 or 1.", element_id="isBuyer")
    # Simple sub-accounts cannot buy, whatever the flag says.
    return flag and sub_type == "advanced"


def _credit_to_attribute(ledger: Ledger, parameters: Params) -> Decimal:
    if not _present(parameters, "creditToAttribute"):
        return Decimal("0.000")
    credit = positive_amount(parameters["creditToAttribute"])
    if credit is None:
        raise Refusal(
            8,
            "creditToAttribute must be a number greater than 0 with at most 3 decimals.",
            element_id="creditToAttribute",
        )
    if ledger.main_balance <= 0:
        raise Refusal(9, "Your balance must be greater than 0.")
    if credit > ledger.main_balance:
        raise Refusal(9, "Your balance is too low to attribute this credit.")
    return credit


def _optional_text(parameters: Params, key: str) -> str | None:
    value = parameters.get(key)
    return value if isinstance(value, str) else None


def list_subaccounts(ledger: Ledger, account: Account, params: Params) -> Answer:
    """``GET subaccount/list``: 20 rows a page, oldest first; a page past the end is empty."""
    _authenticate(account, params)
    raw_page = params.get("page")
    page = 1
    if raw_page not in (None, ""):
        text = str(raw_page)
        if not (text.isascii() and text.isdigit() and int(text) >= 1):
            raise Refusal(400, "page must be a whole number >= 1.")
        page = int(text)
    start = (page - 1) * PER_PAGE
    rows = islice(ledger.subaccounts.values(), start, start + PER_PAGE)  # already in id order
    return {
        "success": True,
        "code": 200,
        "total": len(ledger.subaccounts),
        "nb_per_page": PER_PAGE,
        "page": page,
        "data": [
            {
                "id": sub.id,
                "email": sub.email,
                "type": sub.type,
                "token": sub.token,
                "apiKey": sub.api_key,
                "createdAt": sub.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                "credits": {"balance": _money(sub.balance), "currency": account.currency},
            }
            for sub in rows
        ],
    }


def _credit_request(ledger: Ledger, account: Account, params: Params) -> tuple[str, Decimal]:
    _authenticate(account, params)
    if not account.subaccounts_enabled:
        raise Refusal(4, "You are not authorized to manage sub-account credits.")
    if not _present(params, "credit"):
        raise Refusal(2, "The credit amount is required.")
    token = params.get("tokenSubaccount")
    if token in (None, ""):
        raise Refusal(3, "The sub-account token (tokenSubaccount) is required.")
    amount = positive_amount(params["credit"])
    if amount is None:
        raise Refusal(5, "The credit must be a number greater than 0 with at most 3 decimals.")
    if not isinstance(token, str) or token not in ledger.subaccounts:
        raise Refusal(7, "This sub-account does not exist.")
    return token, amount


def _credit_answer(ledger: Ledger, account: Account, token: str) -> Answer:
    # The API sends these two as JSON numbers, not as the 3-decimal strings used elsewhere.
    return {
        "success": True,
        "code": 200,
        "credit": float(ledger.main_balance),
        "subaccountCredit": float(ledger.subaccounts[token].balance),
        "currency": account.currency,
    }


def add_credit(ledger: Ledger, account: Account, params: Params) -> Answer:
    """``POST subaccount/credit/add``: main account → sub-account."""
    token, amount = _credit_request(ledger, account, params)
    if ledger.main_balance <= 0:
        raise Refusal(6, "Your balance must be greater than 0.")
    if amount > ledger.main_balance:
        raise Refusal(8, "Insufficient credit on the main account.")
    ledger.to_subaccount(token, amount, "subaccount/credit/add")
    return _credit_answer(ledger, account, token)


def remove_credit(ledger: Ledger, account: Account, params: Params) -> Answer:
    """``POST subaccount/credit/remove``: sub-account → main account."""
    token, amount = _credit_request(ledger, account, params)
    if amount > ledger.subaccounts[token].balance:
        raise Refusal(8, "Insufficient credit on the sub-account.")
    ledger.to_main(token, amount, "subaccount/credit/remove")
    return _credit_answer(ledger, account, token)


def delete(ledger: Ledger, account: Account, params: Params) -> Answer:
    """``DELETE subaccount/delete`` (or ``subaccount/remove``); the balance goes back to main."""
    _authenticate(account, params)
    token = params.get("token")
    if token in (None, ""):
        raise Refusal(1, "The sub-account token is required.")
    if not isinstance(token, str) or token not in ledger.subaccounts:
        raise Refusal(404, "This sub-account does not exist.")
    ledger.close(token)
    return {"success": True, "code": 200}


def me(ledger: Ledger, account: Account, params: Params) -> Answer:
    """``GET me``: the main account's identity and credit."""
    _authenticate(account, params)
    balance = _money(ledger.main_balance)
    return {
        "success": True,
        "code": 200,
        "user": {
            "username": account.username,
            "firstname": account.firstname,
            "lastname": account.lastname,
        },
        "credits": {
            "creditSms": int(ledger.main_balance // SMS_PRICE),
            "toSend": 0,
            "solde": balance,
            "currency": account.currency,
            "balance": balance,
        },
    }


#: Operation name → (HTTP method, handler).
HANDLERS: Final[Mapping[str, tuple[str, Handler]]] = {
    "subaccount/create": ("POST", create),
    "subaccount/list": ("GET", list_subaccounts),
    "subaccount/credit/add": ("POST", add_credit),
    "subaccount/credit/remove": ("POST", remove_credit),
    "subaccount/delete": ("DELETE", delete),
    "me": ("GET", me),
}
