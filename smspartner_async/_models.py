"""The values the API hands back: frozen, snake_case, money as ``Decimal``.

These classes know nothing of the wire's names (``nb_per_page``, ``subaccountCredit``): the
converter (``_converter.py``) does the renaming, at the edge.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, TypeAlias

import attrs

__all__ = [
    "AccountInfo",
    "CreatedSubaccount",
    "CreditTransfer",
    "Credits",
    "Subaccount",
    "SubaccountPage",
    "SubaccountType",
]

SubaccountType: TypeAlias = Literal["simple", "advanced"]
"""The two kinds of sub-account; the choice is final once created.

``"simple"`` accounts get a generated e-mail when none is given; ``"advanced"`` ones need an
e-mail and ``is_buyer`` (see [`AsyncSubaccounts.create`][smspartner_async.AsyncSubaccounts.create]).
"""


def _hidden(_: object) -> str:
    return "'***'"


@attrs.frozen
class Credits:
    """A balance in euros (``Decimal``) and its currency code."""

    balance: Decimal
    currency: str


@attrs.frozen
class Subaccount:
    """One sub-account, as ``subaccount/list`` returns it.

    ``token`` identifies it in credit and delete calls. ``api_key`` is the sub-account's own
    key: kept, but never shown by ``repr``. ``created_at`` is the server's local time, as sent
    (no time zone).

    ``id``, ``type``, ``token`` and ``credits`` are always there (a row without them is a
    [`DecodeError`][]). ``email``, ``api_key`` and ``created_at`` are ``None`` when the row
    lacks them or sends ``null``: answers drift, and one odd row must not make the whole
    listing unreadable.

    ```python
    async for sub in client.subaccounts.list():
        print(sub.id, sub.email, sub.type, sub.credits.balance, sub.credits.currency)
    ```
    """

    id: int
    email: str | None
    type: str
    token: str
    api_key: str | None = attrs.field(repr=_hidden)
    created_at: datetime | None
    credits: Credits


@attrs.frozen
class SubaccountPage:
    """One page of ``subaccount/list``: ``total`` rows in all, ``per_page`` a page.

    ```python
    page = await client.subaccounts.list_page(2)
    pages = -(-page.total // page.per_page)          # how many pages there are
    print(f"page {page.page} of {pages}:", [sub.email for sub in page.items])
    ```
    """

    total: int
    per_page: int
    page: int
    items: list[Subaccount]


@attrs.frozen
class CreatedSubaccount:
    """What ``subaccount/create`` answers: the new account's e-mail and token."""

    email: str
    token: str
    send_confirm_mail_to: str | None = None
    parent_email: str | None = None


@attrs.frozen
class CreditTransfer:
    """Balances after a credit move: the main account's and the sub-account's, in euros.

    ```pycon
    >>> transfer = await client.subaccounts.add_credit(token, "25")
    >>> transfer.account_balance, transfer.subaccount_balance
    (Decimal('2869.2'), Decimal('61.8'))
    ```
    """

    account_balance: Decimal
    subaccount_balance: Decimal
    currency: str


@attrs.frozen
class AccountInfo:
    """The main account (``GET me``): who it is and its balance in euros.

    ``sms_credits`` and ``sms_to_send`` are SMS counters that not every answer carries.
    """

    username: str
    firstname: str | None
    lastname: str | None
    balance: Decimal
    currency: str
    sms_credits: int | None = None
    sms_to_send: int | None = None
