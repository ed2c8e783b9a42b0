"""Keeping API keys out of every message, ``repr`` and log line.

GET requests carry the key in the query string (the API wants it there), so any URL is
redacted before it is shown. httpx logs each request's URL at INFO (``HTTP Request: GET
...?apiKey=...``) during our calls; a filter on the ``httpx`` logger rewrites that line too.
"""

from __future__ import annotations

import logging
import re

__all__ = ["Secret", "install_log_redaction", "redact"]

REDACTED = "***"
_QUERY_KEY = re.compile(r"(?i)(apikey=)[^&#\s\"'<>]+")
_JSON_KEY = re.compile(r"""(?i)(["']apikey["']\s*:\s*["'])[^"']*""")


class Secret:
    """A string that never shows itself: ``repr`` and ``str`` print ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __reduce__(self) -> str:
        # A pickled client or error must not carry the key either.
        raise TypeError("a Secret cannot be pickled")


def redact(text: str, *secrets: str) -> str:
    """``text`` with each of ``secrets`` and every ``apiKey`` value (query or JSON) masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    if "apikey" in text.lower():
        text = _QUERY_KEY.sub(rf"\g<1>{REDACTED}", text)
        text = _JSON_KEY.sub(rf"\g<1>{REDACTED}", text)
    return text


class _RedactApiKeys(logging.Filter):
    """Masks ``apiKey`` values in the records of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        if isinstance(record.msg, str) and "apikey=" in record.msg.lower():
            # Mask the formatted line: masking the template alone would eat an "apiKey=%s"
            # placeholder, and logging would then print the record's raw args, key included,
            # in its "--- Logging error ---" report.
            try:
                text = record.getMessage()
            except (TypeError, ValueError, KeyError):  # malformed: args that do not fit
                text = record.msg
            record.msg, record.args = redact(text), ()
        return True


def _redact_arg(arg: object) -> object:
    text = str(arg)
    return redact(text) if "apikey=" in text.lower() else arg


def install_log_redaction() -> None:
    """Attach the redacting filter to the ``httpx`` logger, once per process."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactApiKeys) for f in logger.filters):
        logger.addFilter(_RedactApiKeys())
