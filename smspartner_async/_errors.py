"""Every exception the library raises, and the table that maps API answers onto them.

The tree::

    SMSPartnerError
    ├── ValidationError (also ValueError)    bad input caught before sending; nothing sent
    ├── APIError                             the server refused: success:false or an error status
    │   ├── AuthenticationError              missing / invalid API key
    │   ├── PermissionDeniedError            not authorized (e.g. sub-accounts not activated)
    │   ├── NotFoundError                    sub-account does not exist
    │   ├── InsufficientCreditError          not enough balance to move
    │   ├── ConflictError                    e-mail already used
    │   ├── InvalidRequestError              any other refusal of the request's content
    │   ├── RateLimitError                   HTTP 429 (.retry_after)
    │   ├── ServerError                      HTTP 5xx (.retry_after on a 503)
    │   └── RouteNotFoundError               HTTP 404/405 that is not the API's JSON: no such route
    ├── APIConnectionError                   the network failed
    │   └── APITimeoutError                  ... by timing out
    ├── DecodeError                          the answer is not the documented JSON shape
    └── OutcomeUnknownError                  a money-moving request may or may not have been applied

The same numeric ``code`` means different things on different endpoints, so API errors are
mapped by **endpoint + code** (:data:`_CODE_TABLE`, then the docs' global codes in
:data:`_GLOBAL_CODES`), then by HTTP status. A code counts only in the API's own answer: a JSON
object with ``success: false`` and a ``code``. Anything else (an HTML page, a framework's
``{"code": 404, ...}``) is mapped by its status alone, and a 404 or 405 of that kind is a
:class:`RouteNotFoundError`, never a :class:`NotFoundError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ConflictError",
    "DecodeError",
    "ErrorDetail",
    "InsufficientCreditError",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "RouteNotFoundError",
    "SMSPartnerError",
    "ServerError",
    "ValidationError",
]


class SMSPartnerError(Exception):
    """Base class of every error raised by ``smspartner_async``.

    Its subclasses say what went wrong and whether anything may have happened on the server;
    see the tree in the [errors guide](../guides/errors.md).

    ```python
    try:
        await client.subaccounts.add_credit(token, "5")
    except sp.SMSPartnerError as exc:
        log.error("SMS Partner: %s", exc)    # never contains the API key
    ```
    """


class ValidationError(SMSPartnerError, ValueError):
    """Input refused before anything was sent; ``.field`` names the offending argument.

    Also a ``ValueError``.

    ```pycon
    >>> await client.subaccounts.add_credit(token, "-1")
    Traceback (most recent call last):
    ...
    smspartner_async.ValidationError: amount must be greater than 0, got '-1'
    ```
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@attrs.frozen
class ErrorDetail:
    """One entry of a validation answer's ``error`` list: which element, and what is wrong."""

    element_id: str | None
    """The element the server names (``"children[message].data"``), if it names one."""
    message: str
    """What is wrong with it, in the server's words."""


class APIError(SMSPartnerError):
    """The server answered, and refused: ``success: false`` or an HTTP error status.

    ``code`` is the API's own code (``None`` when the answer is not the API's own JSON, a
    ``success: false`` with a code), ``status_code`` the HTTP status, ``endpoint`` the API path
    (``"subaccount/credit/add"``), ``details`` the per-field errors of a validation answer.
    The server surely did not apply a refused request.

    ```python
    try:
        await client.subaccounts.delete(token)
    except sp.NotFoundError:
        pass                                  # already gone
    except sp.APIError as exc:
        print(exc.endpoint, exc.code, exc.status_code, exc.message)
    ```
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status_code: int | None = None,
        endpoint: str | None = None,
        details: Sequence[ErrorDetail] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code
        self.endpoint = endpoint
        self.details: tuple[ErrorDetail, ...] = tuple(details)

    def __str__(self) -> str:
        where = f"{self.endpoint}: " if self.endpoint else ""
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{where}{self.message}{code}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, code={self.code!r}, "
            f"status_code={self.status_code!r}, endpoint={self.endpoint!r})"
        )


class AuthenticationError(APIError):
    """The API key is missing or invalid."""


class PermissionDeniedError(APIError):
    """The account may not do this (for example: sub-accounts are not activated on it)."""


class NotFoundError(APIError):
    """The sub-account does not exist: the API's own answer said so.

    Raised only for a ``success: false`` answer with a code, never for a bare HTTP 404 (that is
    [`RouteNotFoundError`][]), so ``except NotFoundError: pass  # already gone`` is safe.
    """


class InsufficientCreditError(APIError):
    """There is not enough balance to move that amount."""


class ConflictError(APIError):
    """An account already exists with this e-mail."""


class InvalidRequestError(APIError):
    """The server refused the request's content (a missing or invalid parameter)."""


class RateLimitError(APIError):
    """HTTP 429: too many requests. ``retry_after`` is the server's wait in seconds, if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """HTTP 5xx: the server failed. ``retry_after``: a 503's ``Retry-After`` in seconds, or None."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RouteNotFoundError(APIError):
    """The server has no such route: an HTTP 404 or 405 that is not the API's own JSON answer.

    The request reached no API handler, so nothing was done: this is *not* "the sub-account
    does not exist" ([`NotFoundError`][]). It means the base URL is wrong, a proxy is in the
    way, or the API moved an endpoint. [`delete`][smspartner_async.AsyncSubaccounts.delete]
    tries both documented paths before raising it.
    """


class APIConnectionError(SMSPartnerError):
    """The request did not complete at the network level (``__cause__`` holds why)."""

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class DecodeError(SMSPartnerError):
    """The answer is not the documented JSON shape.

    ``errors`` lists readable paths to the bad fields (``"$.data[3].credits.balance"``);
    ``body`` is an excerpt of the answer with any API key replaced by ``***``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        endpoint: str | None = None,
        errors: Sequence[str] = (),
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.endpoint = endpoint
        self.errors: tuple[str, ...] = tuple(errors)
        self.body = body


class NotSentError(SMSPartnerError):
    """The client refused to send: it is closed, or was opened in another event loop.

    Not part of the public tree (catch [`SMSPartnerError`][]): it tells the bulk runner that
    the item never left.
    """


class OutcomeUnknownError(SMSPartnerError):
    """A money-moving or creating request may or may not have been applied by the server.

    Raised instead of retrying blindly: the request was sent, and its answer was lost or
    unreadable (``__cause__`` holds the underlying error). Check the balances
    (``subaccounts.list()``) before trying again.

    ```python
    try:
        await client.subaccounts.add_credit(token, "25")
    except sp.OutcomeUnknownError as exc:
        log.warning("top-up may or may not have happened: %s", exc.__cause__)
        ...  # read the balance; send again only if the credit did not arrive
    ```
    """

    def __init__(self, message: str, *, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint


_CREDIT_CODES: Mapping[int, type[APIError]] = {
    1: AuthenticationError,
    2: InvalidRequestError,
    3: InvalidRequestError,
    4: PermissionDeniedError,
    5: InvalidRequestError,
    6: InsufficientCreditError,
    7: NotFoundError,
    8: InsufficientCreditError,
    10: AuthenticationError,
}
_READ_CODES: Mapping[int, type[APIError]] = {1: AuthenticationError, 10: AuthenticationError}
_DELETE_CODES: Mapping[int, type[APIError]] = {
    1: InvalidRequestError,
    10: AuthenticationError,
    404: NotFoundError,
}

#: endpoint -> API code -> error class, from the per-endpoint tables of the docs.
#:
#: Disputes in the docs, and what this table does about them (the server's message is kept on
#: the error whatever the class):
#:
#: - ``create`` code 2 is "not allowed to create sub-accounts" on one version of the docs and
#:   "phone number required" on another; the first is what an account without the feature
#:   activated meets, so it maps to PermissionDeniedError.
#: - The docs' global error page gives the credit codes other meanings than the credit page:
#:   3 "credit required" (here: token required), 4 "tokenSubaccount required" (here: not
#:   authorized), 6 "sub-account not found" (here: your balance must be > 0), 7 "insufficient
#:   credit for the sub-account" (here: sub-account does not exist). The per-endpoint meaning
#:   wins: it is the more specific page.
#: - Code 9 with a validation list (``error`` or ``errors``) is the generic "constraints not
#:   met" answer on every endpoint: InvalidRequestError, before this table (whose ``create``
#:   code 9, "balance must be > 0", comes with a message and no list).
_CODE_TABLE: Mapping[str, Mapping[int, type[APIError]]] = {
    "subaccount/create": {
        1: AuthenticationError,
        2: PermissionDeniedError,
        3: InvalidRequestError,
        4: InvalidRequestError,
        5: InvalidRequestError,
        6: InvalidRequestError,
        7: ConflictError,
        8: InvalidRequestError,
        9: InsufficientCreditError,
        10: AuthenticationError,
    },
    "subaccount/list": _READ_CODES,
    "me": _READ_CODES,
    "subaccount/credit/add": _CREDIT_CODES,
    "subaccount/credit/remove": _CREDIT_CODES,
    "subaccount/delete": _DELETE_CODES,
    # The same operation under the path most of the docs' examples use.
    "subaccount/remove": _DELETE_CODES,
}

#: Codes of the docs' global error page that no per-endpoint table uses, on every endpoint.
_GLOBAL_CODES: Mapping[int, type[APIError]] = {
    11: InsufficientCreditError,  # insufficient credit
    20: PermissionDeniedError,  # account disabled
    30: PermissionDeniedError,  # account blocked
    40: PermissionDeniedError,  # API access denied
    90: InvalidRequestError,  # malformed JSON
    96: PermissionDeniedError,  # IP address not authorised
}

#: The generic "constraints not met" code that comes with a validation list.
VALIDATION_CODE = 9

_STATUS_TABLE: Mapping[int, type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
}


def error_class_for(
    endpoint: str,
    code: int | None,
    status_code: int,
    *,
    api_answer: bool = True,
    validation_list: bool = False,
) -> type[APIError]:
    """Pick the error class for an answer: rate limit and 5xx first, then endpoint + code.

    ``api_answer``: the body is the API's own refusal (``success: false`` with a ``code``);
    without it, ``code`` is ignored and a 404 or 405 is a routing miss. ``validation_list``:
    the body carries an ``error``/``errors`` list.
    """
    if status_code == 429:
        return RateLimitError
    if status_code >= 500:
        return ServerError
    if not api_answer:
        return RouteNotFoundError if status_code in (404, 405) else _by_status(status_code)
    if code == VALIDATION_CODE and validation_list:
        return InvalidRequestError
    by_code = None
    if code is not None:
        by_code = _CODE_TABLE.get(endpoint, {}).get(code) or _GLOBAL_CODES.get(code)
    return by_code or _by_status(status_code)


def _by_status(status_code: int) -> type[APIError]:
    if (cls := _STATUS_TABLE.get(status_code)) is not None:
        return cls
    return InvalidRequestError if status_code >= 400 else APIError
