"""Retry rules, in one place: what is retried, how long to wait, and when to give up.

Reads (``list``, ``list_page``, ``account``) are retried on connection errors, timeouts, 429 and
5xx. Requests that create or move money are retried **only** where the server cannot have acted
on them: the connection failed before the request went out, or the server answered 429. Any
failure after the request may have been processed raises :class:`OutcomeUnknownError` instead.

Waits grow exponentially with full jitter, capped at ``max_delay``. A ``Retry-After`` header
(seconds or HTTP date) replaces the computed wait, uncapped and unjittered, up to
:data:`MAX_RETRY_AFTER`; a longer one raises :class:`RateLimitError` at once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs

from ._errors import (
    APIConnectionError,
    RateLimitError,
    ServerError,
    SMSPartnerError,
    ValidationError,
)
from ._validation import MAX_SECONDS, check_bool, check_positive_int, check_seconds

__all__ = [
    "MAX_RETRY_AFTER",
    "RetryDetails",
    "RetryPolicy",
    "check_policy",
    "hook_delay",
    "is_retryable",
    "is_testing",
    "parse_retry_after",
    "set_testing",
]

#: The longest ``Retry-After`` we sleep through; a longer one is raised to the caller.
MAX_RETRY_AFTER = 60.0


@attrs.frozen
class RetryDetails:
    """What a retry hook is told: which call failed, how, and the wait before the next try."""

    endpoint: str
    """The API path of the call (``"subaccount/list"``)."""
    attempt: int
    """The number of the attempt that just failed (1 for the first)."""
    delay: float
    """The seconds about to be waited before the next attempt."""
    error: SMSPartnerError
    """Why the attempt failed."""
    retry_after: float | None = None
    """The server's ``Retry-After``, in seconds, if it sent one."""


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a client retries. ``RetryPolicy(max_attempts=1)`` turns retries off.

    ```pycon
    >>> RetryPolicy(max_attempts=6, max_delay=30.0)
    RetryPolicy(max_attempts=6, initial_delay=0.5, max_delay=30.0, jitter=True, on_retry=None)
    ```

    The wait after attempt *n* is ``initial_delay * 2 ** (n - 1)``, capped at ``max_delay``
    and, with ``jitter``, drawn at random below that. A server's ``Retry-After`` replaces it.
    ``max_attempts`` is an ``int`` of at least 1; both delays are finite seconds from 0 to 3600.
    Anything else raises [`ValidationError`][] naming the field.
    Which failures are retried at all is fixed: see the
    [errors guide](../guides/errors.md#what-is-retried-for-you).

    ``on_retry`` is called before each wait with a [`RetryDetails`][]; it may return a number
    of seconds to wait instead (``None`` keeps the computed wait). It is a plain callable:

    ```python
    def log_retry(details: sp.RetryDetails) -> None:
        print(f"{details.endpoint}: attempt {details.attempt} failed")

    client = sp.AsyncSMSPartner(retry=sp.RetryPolicy(on_retry=log_retry))
    ```
    """

    max_attempts: int = 4
    """Attempts in all, the first included (an ``int`` of at least 1; 1 turns retries off)."""
    initial_delay: float = 0.5
    """Seconds to wait after the first failed attempt, before jitter (0 to 3600)."""
    max_delay: float = 8.0
    """The longest wait between two attempts, in seconds, before jitter (0 to 3600)."""
    jitter: bool = True
    """Whether each wait is drawn at random between 0 and the computed one ("full jitter")."""
    on_retry: Callable[[RetryDetails], float | None] | None = None
    """Called before each wait; may return the seconds to wait instead (``None`` keeps it)."""

    # Checked here rather than by field validators, so the reference shows plain defaults.
    def __attrs_post_init__(self) -> None:
        check_positive_int(self.max_attempts, field="max_attempts")
        check_seconds(self.initial_delay, field="initial_delay", allow_zero=True)
        check_seconds(self.max_delay, field="max_delay", allow_zero=True)
        check_bool(self.jitter, field="jitter")
        if self.on_retry is not None and not callable(self.on_retry):
            raise ValidationError(
                f"on_retry must be a callable or None, got {type(self.on_retry).__name__}",
                field="on_retry",
            )

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), without ``Retry-After``."""
        # Past 2**64 the wait is at max_delay anyway; a bigger power overflows float.
        ceiling = min(self.max_delay, self.initial_delay * 2.0 ** min(attempt - 1, 64))
        return random.uniform(0, ceiling) if self.jitter else ceiling  # noqa: S311 - not crypto


def check_policy(value: object) -> RetryPolicy:
    """A client's ``retry=``: a [`RetryPolicy`][], or ``None`` for the default one."""
    if value is None:
        return RetryPolicy()
    if not isinstance(value, RetryPolicy):
        raise ValidationError(
            f"retry must be a RetryPolicy or None, not {type(value).__name__}", field="retry"
        )
    return value


def hook_delay(chosen: object, computed: float) -> float:
    """The wait an ``on_retry`` hook chose, held to 0..:data:`MAX_SECONDS`; ``computed`` when
    it chose none (``None``, NaN, or not a number)."""
    if isinstance(chosen, bool) or not isinstance(chosen, int | float):
        return computed
    if isinstance(chosen, float) and math.isnan(chosen):
        return computed
    return MAX_SECONDS if chosen >= MAX_SECONDS else max(0.0, float(chosen))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), if valid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def is_retryable(error: SMSPartnerError) -> bool:
    """Whether a failed attempt is worth another try, leaving aside whether it may have acted."""
    return isinstance(error, APIConnectionError | RateLimitError | ServerError)


_testing = False


def set_testing(enabled: bool = True) -> None:
    """Switch backoff off (``True``) or back on, for your test suite.

    Retries still happen exactly as in production, with the same counts and the same
    ``Retry-After`` rules, but every wait is zero, so tests that exercise retries run fast:

    ```python
    @pytest.fixture(autouse=True)
    def no_backoff():
        smspartner_async.set_testing(True)
        yield
        smspartner_async.set_testing(False)
    ```

    It is process-wide, unlike every other setting, which belongs to a client.
    """
    global _testing  # noqa: PLW0603 - a test switch is the one process-wide setting
    _testing = enabled


def is_testing() -> bool:
    """Whether :func:`set_testing` has switched backoff off."""
    return _testing
