"""The emulator's books: the main account, its sub-accounts and every transfer between them.

The ledger knows nothing about the wire. Callers check the documented error conditions first
and only then move money; the ledger re-checks and raises ``ValueError`` rather than ever
creating or losing a cent, so ``total()`` is constant whatever happens on the wire.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, Literal

import attrs

__all__ = [
    "CENTS",
    "EmulatedSubaccount",
    "Ledger",
    "Operation",
    "SubaccountType",
    "Transfer",
]

#: Every amount in the ledger has exactly three decimal places, like the API's balances.
CENTS: Final = Decimal("0.001")

SubaccountType = Literal["simple", "advanced"]
Operation = Literal[
    "seed",
    "subaccount/create",
    "subaccount/credit/add",
    "subaccount/credit/remove",
    "subaccount/delete",
]


@attrs.frozen(kw_only=True)
class EmulatedSubaccount:
    """A snapshot of one sub-account held by the emulator. ``repr`` hides ``api_key``."""

    id: int
    token: str
    api_key: str = attrs.field(repr=False)
    email: str
    type: SubaccountType
    created_at: datetime
    balance: Decimal
    is_buyer: bool = False
    title: str | None = None
    firstname: str | None = None
    lastname: str | None = None


@attrs.frozen
class Transfer:
    """One movement of money between the main account and a sub-account.

    ``operation`` names what caused it (an endpoint, or ``"seed"`` for
    [`Emulator.seed_subaccounts`][smspartner_async.testing.Emulator.seed_subaccounts]), so a
    test can check that nothing was applied twice:

    ```python
    paid = [t for t in emulator.transfers if t.operation == "subaccount/credit/add"]
    assert [t.token for t in paid] == [token]        # once, not twice
    ```
    """

    token: str
    amount: Decimal
    direction: Literal["to_subaccount", "to_main"]
    operation: Operation


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


@attrs.define
class Ledger:
    """Balances as ``Decimal`` with 3 places; sub-accounts by token, in creation order.

    Creation order is id order (ids grow as accounts open, and a balance update rewrites an
    entry in place), so listing never needs to sort.
    """

    main_balance: Decimal
    rng: random.Random
    subaccounts: dict[str, EmulatedSubaccount] = attrs.field(factory=dict[str, EmulatedSubaccount])
    transfers: list[Transfer] = attrs.field(factory=list[Transfer])
    _next_id: int = 1
    # Casefolded e-mails in use: seeding thousands of accounts must not scan them all each time.
    _emails: set[str] = attrs.field(factory=set[str])

    def total(self) -> Decimal:
        """Main balance plus every sub-account's balance."""
        return self.main_balance + sum(
            (sub.balance for sub in self.subaccounts.values()), Decimal("0.000")
        )

    def email_taken(self, email: str) -> bool:
        """True when a sub-account already uses *email* (compared case-insensitively)."""
        return email.casefold() in self._emails

    def generated_email(self) -> str:
        """An unused address shaped like the ones the API generates for simple sub-accounts."""
        while True:
            email = f"{self.rng.randrange(10_000_000, 100_000_000)}@smspartner.fr"
            if not self.email_taken(email):
                return email

    def open(
        self,
        *,
        type: SubaccountType,
        email: str,
        credit: Decimal,
        operation: Operation,
        is_buyer: bool = False,
        title: str | None = None,
        firstname: str | None = None,
        lastname: str | None = None,
    ) -> EmulatedSubaccount:
        """Create a sub-account and move *credit* (may be zero) into it from the main account."""
        if credit < 0 or credit > self.main_balance:
            raise ValueError(
                f"cannot attribute {credit} from a main balance of {self.main_balance}"
            )
        sub = EmulatedSubaccount(
            id=self._next_id,
            token=_hex(self.rng, 128),
            api_key=_hex(self.rng, 160),
            email=email,
            type=type,
            created_at=datetime.now(UTC).replace(microsecond=0, tzinfo=None),
            balance=Decimal("0.000"),
            is_buyer=is_buyer,
            title=title,
            firstname=firstname,
            lastname=lastname,
        )
        self._next_id += 1
        self.subaccounts[sub.token] = sub
        self._emails.add(email.casefold())
        if credit > 0:
            self.to_subaccount(sub.token, credit, operation)
        return sub

    def to_subaccount(self, token: str, amount: Decimal, operation: Operation) -> None:
        """Move *amount* from the main account to sub-account *token*."""
        sub = self.subaccounts[token]
        if not 0 < amount <= self.main_balance:
            raise ValueError(f"cannot move {amount} from a main balance of {self.main_balance}")
        self.main_balance -= amount
        self.subaccounts[token] = attrs.evolve(sub, balance=sub.balance + amount)
        self.transfers.append(Transfer(token, amount, "to_subaccount", operation))

    def to_main(self, token: str, amount: Decimal, operation: Operation) -> None:
        """Move *amount* from sub-account *token* back to the main account."""
        sub = self.subaccounts[token]
        if not 0 < amount <= sub.balance:
            raise ValueError(f"cannot move {amount} from a sub-account balance of {sub.balance}")
        self.subaccounts[token] = attrs.evolve(sub, balance=sub.balance - amount)
        self.main_balance += amount
        self.transfers.append(Transfer(token, amount, "to_main", operation))

    def close(self, token: str) -> None:
        """Delete sub-account *token*, returning whatever it holds to the main account.

        The public pages do not say what happens to a deleted sub-account's money; returning it
        keeps the books closed, and the transfer log shows it.
        """
        balance = self.subaccounts[token].balance
        if balance > 0:
            self.to_main(token, balance, "subaccount/delete")
        self._emails.discard(self.subaccounts.pop(token).email.casefold())
