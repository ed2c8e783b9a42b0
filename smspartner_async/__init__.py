"""Async, typed client for the SMS Partner sub-account API, on asyncio and trio.

```python
import smspartner_async as sp

async with sp.AsyncSMSPartner() as client:  # key from SMSPARTNER_API_KEY
    async for sub in client.subaccounts.list():
        print(sub.email, sub.credits.balance)
    transfer = await client.subaccounts.add_credit(token, Decimal("25"))
```

Money is ``Decimal`` throughout; a request that may have moved money is never retried
blindly ([`OutcomeUnknownError`][]).
"""

import logging

from ._bulk import BulkReport, BulkResult, BulkStatus
from ._client import AsyncSMSPartner
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    DecodeError,
    ErrorDetail,
    InsufficientCreditError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RouteNotFoundError,
    ServerError,
    SMSPartnerError,
    ValidationError,
)
from ._journal import BulkJournal, JournalError, JournalStatus
from ._models import (
    AccountInfo,
    CreatedSubaccount,
    Credits,
    CreditTransfer,
    Subaccount,
    SubaccountPage,
    SubaccountType,
)
from ._money import Amount, parse_amount
from ._pagination import SubaccountPaginator
from ._progress import ProgressBar
from ._retry import RetryDetails, RetryPolicy, set_testing
from ._settle import Settlement, SettlementVerdict
from ._subaccounts import AsyncSubaccounts
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AccountInfo",
    "Amount",
    "AsyncSMSPartner",
    "AsyncSubaccounts",
    "AuthenticationError",
    "BulkJournal",
    "BulkReport",
    "BulkResult",
    "BulkStatus",
    "ConflictError",
    "CreatedSubaccount",
    "CreditTransfer",
    "Credits",
    "DecodeError",
    "ErrorDetail",
    "InsufficientCreditError",
    "InvalidRequestError",
    "JournalError",
    "JournalStatus",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "ProgressBar",
    "RateLimitError",
    "RetryDetails",
    "RetryPolicy",
    "RouteNotFoundError",
    "SMSPartnerError",
    "ServerError",
    "Settlement",
    "SettlementVerdict",
    "Subaccount",
    "SubaccountPage",
    "SubaccountPaginator",
    "SubaccountType",
    "ValidationError",
    "__version__",
    "parse_amount",
    "set_testing",
]


def _publish() -> None:
    # Show public classes as smspartner_async.X in reprs and tracebacks, not private modules.
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type):
            obj.__module__ = __name__


_publish()
del _publish

# A library logs; the application decides where to. Without this, Python's last-resort handler
# would print our retry warnings to stderr in programs that never configured logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())
