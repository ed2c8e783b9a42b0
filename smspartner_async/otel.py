"""Keeping the API key out of the spans of OpenTelemetry's HTTP instrumentations.

The API takes the key in the query string of GET requests, and the standard instrumentations
record each request's full URL (``http.url``, or ``url.full`` under the stable HTTP
conventions). Hand them these functions when you instrument:

```python
from opentelemetry.instrumentation.aiohttp_client import (
    AioHttpClientInstrumentor,
)
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from smspartner_async import otel

HTTPXClientInstrumentor().instrument(
    request_hook=otel.httpx_request_hook,
    async_request_hook=otel.async_httpx_request_hook,
)
AioHttpClientInstrumentor().instrument(url_filter=otel.redact_url)
```

This module imports nothing from OpenTelemetry. The library's own spans (one per call, one per
attempt, with the ``otel`` extra) never carry a URL and need none of it: see the
[tracing guide](../guides/tracing.md).
"""

from __future__ import annotations

from typing import Protocol

from ._redact import redact

__all__ = ["URL_ATTRIBUTES", "async_httpx_request_hook", "httpx_request_hook", "redact_url"]

#: The span attributes that hold a request's URL, in the old and the stable HTTP conventions.
URL_ATTRIBUTES = ("http.url", "url.full")


class SpanLike(Protocol):
    """What the hooks need of an OpenTelemetry span."""

    def set_attribute(self, key: str, value: str, /) -> object:
        """Set one attribute."""
        ...


class RequestLike(Protocol):
    """What the hooks need of the request the httpx instrumentation hands them."""

    @property
    def url(self) -> object:
        """The request's URL."""
        ...


def redact_url(url: object) -> str:
    """``url`` as text with every ``apiKey`` value replaced by ``***``.

    The aiohttp client instrumentation's ``url_filter``: it applies it before the span starts,
    so the key never reaches the span.
    """
    return redact(str(url))


def httpx_request_hook(span: SpanLike, request: RequestLike) -> None:
    """The httpx instrumentation's ``request_hook``: the span's URL, without the key.

    The instrumentation sets the URL when it starts the span and calls the hook right after;
    this overwrites both URL attributes (``URL_ATTRIBUTES``) of a request that carries an
    ``apiKey``, and leaves every other request's span alone. A span processor that reads spans
    as they *start* still sees the first value; exporters read them when they end.
    """
    text = str(request.url)
    if "apikey=" in text.lower():
        redacted = redact(text)
        for attribute in URL_ATTRIBUTES:
            span.set_attribute(attribute, redacted)


async def async_httpx_request_hook(span: SpanLike, request: RequestLike) -> None:
    """[`httpx_request_hook`][smspartner_async.otel.httpx_request_hook], for
    ``async_request_hook`` (the one ``httpx.AsyncClient`` calls)."""
    httpx_request_hook(span, request)
