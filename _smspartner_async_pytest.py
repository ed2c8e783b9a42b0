"""pytest plugin (entry point ``smspartner_async``): the ``smspartner_emulator`` fixture.

pytest imports this module in every session of every project that has smspartner-async
installed, so it defines a fixture and nothing else. It lives outside the package on purpose:
importing any module of ``smspartner_async`` would import the whole library first. The
emulator is imported when a test first asks for the fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from smspartner_async.testing import Emulator

__all__ = ["smspartner_emulator"]


@pytest.fixture
def smspartner_emulator() -> Emulator:
    """A fresh [`Emulator`][smspartner_async.testing.Emulator] with default settings.

    Example:

    ```python
    @pytest.mark.anyio
    async def test_topup(smspartner_emulator):
        [token] = smspartner_emulator.seed_subaccounts(1)
        async with smspartner_emulator.client() as client:
            await client.subaccounts.add_credit(token, "5")
        assert smspartner_emulator.balance(token) == Decimal("5")
    ```
    """
    from smspartner_async.testing import Emulator  # noqa: PLC0415 - keep plugin import cheap

    return Emulator()
