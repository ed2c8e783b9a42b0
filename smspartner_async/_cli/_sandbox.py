"""The pre-seeded emulator behind ``--sandbox``, ``demo`` and ``emulator``."""

from __future__ import annotations

from decimal import Decimal

from smspartner_async.testing import Emulator

__all__ = ["MAIN_BALANCE", "SANDBOX_SUBACCOUNTS", "seeded_emulator"]

#: Sub-accounts in ``--sandbox`` and the demo: enough for three pages of 20.
SANDBOX_SUBACCOUNTS = 45
#: What the main account holds once the sub-accounts are seeded.
MAIN_BALANCE = Decimal("10000")


def seeded_emulator(
    subaccounts: int, *, api_key: str | None = None, latency: float = 0.0
) -> Emulator:
    """An emulator with ``subaccounts`` sub-accounts holding varied balances.

    Seeding is deterministic, so tokens are the same from one run to the next: a token read
    from ``--sandbox subaccounts list`` works in the next ``--sandbox credit add``.
    """
    balances = [_balance(i) for i in range(subaccounts)]
    emulator = Emulator(
        api_key=api_key or Emulator.DEFAULT_API_KEY,
        # Seeding moves money out of the main account; topping it up first leaves it round.
        main_balance=MAIN_BALANCE + sum(balances, Decimal(0)),
        latency=latency,
    )
    for balance in balances:
        emulator.seed_subaccounts(1, balance=balance)
    return emulator


def _balance(i: int) -> Decimal:
    # Varied, some empty, some with cents, so tables and sums look like real data.
    return Decimal(i * 37 % 90) + Decimal(i % 4) * Decimal("0.25")
