"""Test helpers: an in-memory SMS Partner sub-account API and ways to reach it.

The [`Emulator`][] is an ASGI app with a ledger that never creates or loses money, a log of
requests and scripted faults. Talk to it in-process through [`EmulatorTransport`][] (or
[`Emulator.client`][]), or over real HTTP with [`served`][] / [`serve`][] (needs the
``smspartner-async[emulator]`` extra). pytest users get a ``smspartner_emulator`` fixture.

Example:

```python
from decimal import Decimal
from smspartner_async.testing import Emulator, Fault

emulator = Emulator(main_balance=Decimal("100"))
[token] = emulator.seed_subaccounts(1)
emulator.inject(Fault.apply_then_drop(), endpoint="subaccount/credit/add")
async with emulator.client() as client:
    ...  # add_credit(token, "10") fails, yet the credit was applied:
assert emulator.balance(token) == Decimal("10")
assert emulator.total_money() == Decimal("100")
```
"""

from smspartner_async.testing._emulator import Emulator
from smspartner_async.testing._faults import Fault, FaultKind
from smspartner_async.testing._ledger import EmulatedSubaccount, Transfer
from smspartner_async.testing._records import RecordedRequest
from smspartner_async.testing._server import serve, served
from smspartner_async.testing._transport import EmulatorTransport

__all__ = [
    "EmulatedSubaccount",
    "Emulator",
    "EmulatorTransport",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "Transfer",
    "serve",
    "served",
]
