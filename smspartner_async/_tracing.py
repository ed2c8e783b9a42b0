"""OpenTelemetry spans, when ``opentelemetry-api`` is installed (the ``otel`` extra).

Each API call is one span, ``smspartner <endpoint>``, and each attempt at it one child span,
``smspartner <endpoint> attempt``; the spans of an httpx or aiohttp instrumentation nest under
the attempt. What they carry is listed in the tracing guide (``docs/guides/tracing.md``): the
endpoint, the method, attempt numbers, HTTP status, outcome and retry delay. Nothing else: no
URL, header, body, message or exception event, so no key can reach a span from here.

Spans go to the global tracer provider; without the package every call here is a no-op.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from ._endpoints import Endpoint
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = ["SpanHandle", "Tracing"]

TRACER_NAME = "smspartner_async"


class SpanHandle:
    """What the request pipeline tells one span; a no-op without a span."""

    def __init__(self, span: Span | None = None) -> None:
        self._span = span
        self._outcome: str | None = None

    def set(self, key: str, value: int | float) -> None:
        if self._span is not None:
            self._span.set_attribute(key, value)

    def fail(self, error: BaseException) -> None:
        """Record the first failure: its class is the outcome, and the status is ``ERROR``."""
        if self._span is None or self._outcome is not None:
            return
        from opentelemetry.trace import StatusCode  # noqa: PLC0415 - here only if installed

        self._outcome = type(error).__name__
        self._span.set_attribute("smspartner.outcome", self._outcome)
        self._span.set_attribute("error.type", self._outcome)
        self._span.set_status(StatusCode.ERROR, self._outcome)

    def close(self) -> None:
        if self._span is not None and self._outcome is None:
            self._span.set_attribute("smspartner.outcome", "ok")


_NO_SPAN = nullcontext(SpanHandle())


class Tracing:
    """The spans of one client's calls."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        try:
            from opentelemetry import trace  # noqa: PLC0415 - the optional `otel` extra
            from opentelemetry.trace import (  # noqa: PLC0415
                NoOpTracerProvider,
                ProxyTracerProvider,
            )
        except ImportError:
            return
        self._tracer = trace.get_tracer(TRACER_NAME, __version__)
        self._provider = trace.get_tracer_provider
        self._unset = (ProxyTracerProvider, NoOpTracerProvider)

    def span(
        self, endpoint: Endpoint, attempt: int | None = None
    ) -> AbstractContextManager[SpanHandle]:
        """The span of a call (``attempt=None``) or of one attempt at it, made current."""
        # Until the application sets a tracer provider, spans would be made only to be thrown
        # away, at some 40 us a call.
        if self._tracer is None or isinstance(self._provider(), self._unset):
            return _NO_SPAN
        return self._span(self._tracer, endpoint, attempt)

    @contextmanager
    def _span(
        self, tracer: Tracer, endpoint: Endpoint, attempt: int | None
    ) -> Generator[SpanHandle]:
        name = f"smspartner {endpoint.path}"
        attributes: dict[str, str | int] = {
            "smspartner.endpoint": endpoint.path,
            "http.request.method": endpoint.method,
        }
        if attempt is not None:
            name += " attempt"
            attributes["smspartner.attempt"] = attempt
        # An exception is described by its class only: recording it would copy its message and
        # traceback, text from elsewhere, into the span.
        with tracer.start_as_current_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            handle = SpanHandle(span)
            try:
                yield handle
            except BaseException as exc:
                handle.fail(exc)
                raise
            finally:
                handle.close()
