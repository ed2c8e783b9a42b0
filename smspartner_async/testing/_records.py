"""The log of requests the emulator received."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import cast

import attrs

from smspartner_async.testing._faults import Fault

__all__ = ["RecordedRequest", "redact"]

_REDACTED = "***"


def redact(value: object) -> object:
    """Return *value* with every ``apiKey`` entry, at any depth, replaced by ``"***"``."""
    if isinstance(value, Mapping):
        return {
            key: _REDACTED if str(key).casefold() == "apikey" else redact(item)
            for key, item in cast("Mapping[object, object]", value).items()
        }
    if isinstance(value, list):
        return [redact(item) for item in cast("list[object]", value)]
    return value


def _freeze_query(query: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(query))


@attrs.frozen(kw_only=True, repr=False)
class RecordedRequest:
    """One request as the emulator saw it, in arrival order.

    ``json`` is the parsed body of a POST or DELETE (numbers with a fraction parsed as
    ``Decimal``; an empty body as ``{}``), or None for a GET or a body that is not JSON.
    ``fault`` is the scripted fault applied to this request, if any. ``received_at`` is when it
    arrived, in seconds of ``time.monotonic()`` (count requests per window with it). ``repr``
    shows ``apiKey`` values as ``***``.
    """

    method: str
    path: str
    endpoint: str | None
    query: Mapping[str, str] = attrs.field(converter=_freeze_query)
    json: object = None
    fault: Fault | None = None
    received_at: float = attrs.field(factory=time.monotonic)

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"endpoint={self.endpoint!r}, query={redact(self.query)!r}, "
            f"json={redact(self.json)!r}, fault={self.fault!r})"
        )

    __str__ = __repr__
