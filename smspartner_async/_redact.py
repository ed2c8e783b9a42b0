"""Keeping API keys out of every message, ``repr`` and log line.

GET requests carry the key in the query string (the API wants it there), so any URL is
redacted before it is shown. httpx logs each request's URL at INFO (``HTTP Request: GET
...?apiKey=...``) during our calls, and httpcore logs response headers at DEBUG (a redirect's
``Location`` may carry the query, a server may echo the key in any header); a filter on the
loggers of the HTTP stack rewrites those lines, masking every ``apiKey=`` value and the key of
every live client.
"""

from __future__ import annotations

import logging
import re
import weakref

__all__ = ["HTTP_LOGGERS", "REDACTED", "Secret", "install_log_redaction", "redact"]

#: The loggers of the HTTP stack under us. A logger's filters see only the records made on it,
#: not those of its children, so each one is named.
HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "aiohttp.client",
    "aiohttp.internal",
    "asyncio",
)

REDACTED = "***"
_QUERY_KEY = re.compile(r"(?i)(apikey=)[^&#\s\"'<>]+")
_JSON_KEY = re.compile(r"""(?i)(["']apikey["']\s*:\s*["'])[^"']*""")


class Secret:
    """A string that never shows itself: ``repr`` and ``str`` print ``***``."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        _live.add(self)

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __reduce__(self) -> str:
        # A pickled client or error must not carry the key either.
        raise TypeError("a Secret cannot be pickled")


#: The keys of the clients alive in this process, masked in the HTTP stack's log lines.
_live: weakref.WeakSet[Secret] = weakref.WeakSet()


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
        keys = [secret.reveal() for secret in list(_live)]
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg, keys) for arg in record.args)
        if isinstance(record.msg, str) and _shows_key(record.msg, keys):
            # Mask the formatted line: masking the template alone would eat an "apiKey=%s"
            # placeholder, and logging would then print the record's raw args, key included,
            # in its "--- Logging error ---" report.
            try:
                text = record.getMessage()
            except (TypeError, ValueError, KeyError):  # malformed: args that do not fit
                text = record.msg
            record.msg, record.args = redact(text, *keys), ()
        return True


def _shows_key(text: str, keys: list[str]) -> bool:
    return "apikey" in text.lower() or any(key in text for key in keys)


def _redact_arg(arg: object, keys: list[str]) -> object:
    text = str(arg)
    return redact(text, *keys) if _shows_key(text, keys) else arg


def install_log_redaction() -> None:
    """Attach the redacting filter to the HTTP stack's loggers, once per process."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactApiKeys) for f in logger.filters):
            logger.addFilter(_RedactApiKeys())
