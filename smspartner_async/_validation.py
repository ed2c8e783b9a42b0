"""Checks on what callers pass, before anything is sent. Each failure is a ValidationError
naming the argument."""

from __future__ import annotations

import re

from ._errors import ValidationError
from ._models import SubaccountType

__all__ = [
    "check_bool",
    "check_email",
    "check_positive_int",
    "check_text",
    "check_token",
    "check_type",
]

# Deliberately loose: one @, something on each side, a dot in the domain, no spaces. The server
# has the last word; this only stops the obvious mistakes before they cost a round trip.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
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
    """An e-mail address that at least looks like one."""
    if not isinstance(value, str) or not _EMAIL.fullmatch(value) or len(value) > _MAX_TEXT:
        raise ValidationError(f"{field} must be an e-mail address, got {value!r}", field=field)
    return value


def check_text(value: object, *, field: str) -> str:
    """A short free-text field (title, names)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string, got {value!r}", field=field)
    if len(value) > _MAX_TEXT:
        raise ValidationError(f"{field} is longer than {_MAX_TEXT} characters", field=field)
    return value


def check_bool(value: object, *, field: str) -> bool:
    """A real ``bool`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be True or False, got {value!r}", field=field)
    return value


def check_positive_int(value: object, *, field: str) -> int:
    """An ``int`` of at least 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{field} must be an integer >= 1, got {value!r}", field=field)
    return value
