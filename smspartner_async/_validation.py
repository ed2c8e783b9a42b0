"""Checks on what callers pass, before anything is sent. Each failure is a ValidationError
naming the argument."""

from __future__ import annotations

import re

import httpx

from ._errors import ValidationError
from ._models import SubaccountType

__all__ = [
    "check_bool",
    "check_email",
    "check_positive_int",
    "check_seconds",
    "check_text",
    "check_timeout",
    "check_token",
    "check_type",
]

#: The longest wait a caller may configure (a timeout, a retry delay): an hour. Anything longer
#: is a mistake for an API that answers in milliseconds, and ``inf`` or ``1e400`` never ends.
MAX_SECONDS = 3600.0

# Deliberately loose: one @, something on each side, a dot in the domain, no spaces. The server
# has the last word; this only stops the obvious mistakes before they cost a round trip.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
#: Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: refused in
#: every text field, where they could split a header, a CSV line or a terminal line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TYPES: tuple[SubaccountType, ...] = ("simple", "advanced")
_MAX_TEXT = 255


def check_type(value: object) -> SubaccountType:
    """A sub-account type: ``"simple"`` or ``"advanced"``."""
    for kind in _TYPES:
        if value == kind:
            return kind
    raise ValidationError(f"type must be 'simple' or 'advanced', got {value!r}", field="type")


def check_token(value: object, *, field: str = "token") -> str:
    """A sub-account token: a non-empty string without spaces or control characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, not {type(value).__name__}", field=field)
    # isprintable() is False for every whitespace character but the plain space.
    if not value or not value.isprintable() or " " in value:
        raise ValidationError(
            f"{field} must be a non-empty string without spaces, got {value!r}", field=field
        )
    if len(value) > _MAX_TEXT:
        raise ValidationError(f"{field} is longer than {_MAX_TEXT} characters", field=field)
    return value


def check_email(value: object, *, field: str = "email") -> str:
    """An e-mail address that at least looks like one, without control characters."""
    if (
        not isinstance(value, str)
        or not _EMAIL.fullmatch(value)
        or len(value) > _MAX_TEXT
        or _CONTROL.search(value)
    ):
        raise ValidationError(f"{field} must be an e-mail address, got {value!r}", field=field)
    return value


def check_text(value: object, *, field: str) -> str:
    """A short free-text field (title, names), without control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string, got {value!r}", field=field)
    if len(value) > _MAX_TEXT:
        raise ValidationError(f"{field} is longer than {_MAX_TEXT} characters", field=field)
    if _CONTROL.search(value):
        raise ValidationError(
            f"{field} must not contain control characters (line breaks, tabs, NUL...), "
            f"got {value!r}",
            field=field,
        )
    return value


def check_bool(value: object, *, field: str) -> bool:
    """A real ``bool`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be True or False, got {value!r}", field=field)
    return value


def check_positive_int(value: object, *, field: str, most: int | None = None) -> int:
    """An ``int`` of at least 1 (bools refused), and at most ``most`` if given."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 1
        or (most is not None and value > most)
    ):
        bounds = ">= 1" if most is None else f"from 1 to {most}"
        # An int past 4300 digits cannot even be printed (int -> str is capped): show its size.
        if isinstance(value, int) and value.bit_length() > 64:
            shown = f"an integer of {value.bit_length()} bits"
        else:
            shown = repr(value)
        raise ValidationError(f"{field} must be an integer {bounds}, got {shown}", field=field)
    return value


def check_seconds(
    value: object, *, field: str, allow_zero: bool = False, name: str | None = None
) -> float:
    """A number of seconds: an ``int`` or ``float`` (bools refused), finite, above 0 (or at
    least 0 with ``allow_zero``) and at most :data:`MAX_SECONDS`. ``name`` is what the message
    calls it (``field`` by default)."""
    low = "0 or more" if allow_zero else "more than 0"
    problem = f"{name or field} must be a number of seconds, {low} and at most {MAX_SECONDS:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{problem}, not {type(value).__name__}", field=field)
    # Compared before any conversion: float(10**400) overflows, and NaN fails every test.
    if not (0 <= value <= MAX_SECONDS) or (value == 0 and not allow_zero):
        raise ValidationError(f"{problem}, got {value!r}", field=field)
    return float(value)


def check_timeout(value: object, *, field: str = "timeout") -> httpx.Timeout:
    """Seconds, or an ``httpx.Timeout`` whose every phase is set to such a number.

    Plain seconds become ``httpx.Timeout(seconds, connect=min(5, seconds))``. A phase set to
    ``None`` (no limit) is refused too: every call must end in bounded time.
    """
    if isinstance(value, httpx.Timeout):
        for phase in ("connect", "read", "write", "pool"):
            check_seconds(getattr(value, phase), field=field, name=f"{field}.{phase}")
        return value
    seconds = check_seconds(value, field=field)
    return httpx.Timeout(seconds, connect=min(5.0, seconds))
