"""OpenTelemetry: our spans (one per call, one per attempt) and the key kept out of every span.

The SDK's global tracer provider can be set once per process: it is set here, behind a sampler
that records only while a test of this module runs, into an in-memory exporter.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from _support import CANARY, SUB_CANARY, Server, answer_for, fail, ok, sequence
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.util.types import Attributes

import smspartner_async as sp
from smspartner_async import otel
from smspartner_async.testing import Emulator, Fault, served

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff")]


class Switch(Sampler):
    """Records while ``on``; drops every span otherwise (the rest of the suite)."""

    on = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "Switch"


SWITCH = Switch()
EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider(sampler=SWITCH)
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if trace.get_tracer_provider() is not PROVIDER:
        trace.set_tracer_provider(PROVIDER)
    SWITCH.on = True
    try:
        yield EXPORTER
    finally:
        SWITCH.on = False
        EXPORTER.clear()


def ours(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("smspartner ")]


def attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


# -- our spans ---------------------------------------------------------------------------------


async def test_a_retried_read_is_one_call_span_over_two_attempts(
    spans: InMemorySpanExporter,
) -> None:
    answers = iter([fail(None, "busy", status=503)])
    server = Server(lambda request: next(answers, None) or answer_for(request))
    policy = sp.RetryPolicy(initial_delay=0.25, jitter=False)
    async with server.client(retry=policy) as client:
        await client.account()
    first, second, call = ours(spans)
    assert (first.name, second.name, call.name) == (
        "smspartner me attempt",
        "smspartner me attempt",
        "smspartner me",
    )
    assert attributes(first) == {
        "smspartner.endpoint": "me",
        "http.request.method": "GET",
        "smspartner.attempt": 1,
        "http.response.status_code": 503,
        "smspartner.outcome": "ServerError",
        "error.type": "ServerError",
        "smspartner.retry_delay": 0.25,
    }
    assert first.status.status_code is StatusCode.ERROR
    assert attributes(second) == {
        "smspartner.endpoint": "me",
        "http.request.method": "GET",
        "smspartner.attempt": 2,
        "http.response.status_code": 200,
        "smspartner.outcome": "ok",
    }
    assert second.status.status_code is StatusCode.UNSET
    assert attributes(call) == {
        "smspartner.endpoint": "me",
        "http.request.method": "GET",
        "smspartner.attempts": 2,
        "smspartner.outcome": "ok",
    }
    assert call.parent is None
    assert first.parent == second.parent == call.context
    assert not first.events  # no exception event: nothing from elsewhere is copied in


async def test_a_write_with_an_unknown_outcome(spans: InMemorySpanExporter) -> None:
    server = Server(sequence(fail(None, "oops", status=500)))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError):
            await client.subaccounts.add_credit("tok", "5")
    attempt, call = ours(spans)
    assert attributes(attempt)["smspartner.outcome"] == "ServerError"
    assert attributes(attempt)["http.response.status_code"] == 500
    assert "smspartner.retry_delay" not in attributes(attempt)
    assert attributes(call)["smspartner.outcome"] == "OutcomeUnknownError"
    assert attributes(call)["error.type"] == "OutcomeUnknownError"
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "OutcomeUnknownError"


async def test_a_connection_failure_has_no_status(spans: InMemorySpanExporter) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    server = Server(refuse)
    async with server.client(retry=sp.RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(sp.APIConnectionError):
            await client.subaccounts.list_page()
    attempt, call = ours(spans)
    assert "http.response.status_code" not in attributes(attempt)
    assert attributes(attempt)["smspartner.outcome"] == "APIConnectionError"
    assert attributes(call)["smspartner.attempts"] == 1


async def test_a_view_traces_like_its_client(spans: InMemorySpanExporter) -> None:
    server = Server(lambda request: ok(**{"credit": 1, "subaccountCredit": 2, "currency": "EUR"}))
    async with server.client() as client:
        await client.with_options(timeout=60.0).subaccounts.remove_credit("tok", "1")
    assert [s.name for s in ours(spans)] == [
        "smspartner subaccount/credit/remove attempt",
        "smspartner subaccount/credit/remove",
    ]


# -- the standard HTTP instrumentations, with the key kept out ---------------------------------


def leaks(spans: Sequence[ReadableSpan]) -> list[str]:
    """Every place a span shows the account's or a sub-account's key."""
    found: list[str] = []
    for span in spans:
        texts = [span.name, span.status.description or ""]
        texts += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
        for event in span.events:
            texts += [event.name, *(f"{k}={v}" for k, v in (event.attributes or {}).items())]
        found += [f"{span.name}: {text}" for text in texts if CANARY in text or SUB_CANARY in text]
    return found


async def some_calls(client: sp.AsyncSMSPartner, emulator: Emulator) -> None:
    [token] = emulator.seed_subaccounts(1, balance="1")
    await client.account()
    await client.subaccounts.add_credit(token, "2")
    await client.subaccounts.list_page()
    emulator.inject(Fault.status(503), endpoint="me")
    await client.account()  # retried: two attempts, two HTTP spans


@pytest.fixture
def instrumented() -> Iterator[None]:
    httpx_instrumentor, aiohttp_instrumentor = (
        HTTPXClientInstrumentor(),
        AioHttpClientInstrumentor(),
    )
    httpx_instrumentor.instrument(
        request_hook=otel.httpx_request_hook, async_request_hook=otel.async_httpx_request_hook
    )
    aiohttp_instrumentor.instrument(url_filter=otel.redact_url)
    try:
        yield
    finally:
        httpx_instrumentor.uninstrument()
        aiohttp_instrumentor.uninstrument()


@pytest.mark.usefixtures("instrumented")
async def test_no_span_holds_the_key(spans: InMemorySpanExporter, anyio_backend: str) -> None:
    emulator = Emulator()
    async with served(emulator) as base_url:
        # Our own transport: aiohttp's on asyncio, httpx's on trio.
        async with sp.AsyncSMSPartner(base_url=base_url) as client:
            await some_calls(client, emulator)
        own = {s.context.span_id for s in ours(spans) if s.name.endswith(" attempt")}
        # A caller's httpx client, on both.
        async with (
            httpx.AsyncClient() as http,
            sp.AsyncSMSPartner(base_url=base_url, http_client=http) as client,
        ):
            await some_calls(client, emulator)
    finished = spans.get_finished_spans()
    http_spans = [s for s in finished if s.kind is SpanKind.CLIENT]
    # Every request has its HTTP span, under its attempt's span; under trio the client's own
    # pool is httpcore under a network layer of ours, which the httpx instrumentation (it wraps
    # httpx.AsyncHTTPTransport) does not see.
    attempts = {s.context.span_id for s in ours(spans) if s.name.endswith(" attempt")}
    assert len(attempts) == 10
    seen = attempts if anyio_backend == "asyncio" else attempts - own
    assert len(seen) >= 5
    assert seen <= {s.parent.span_id for s in http_spans if s.parent}
    urls = [str(attributes(s).get("http.url", attributes(s).get("url.full"))) for s in http_spans]
    assert f"{base_url}me?apiKey=***" in urls
    assert leaks(finished) == []


async def test_without_the_hooks_the_key_would_be_recorded(
    spans: InMemorySpanExporter, anyio_backend: str
) -> None:
    # The check above can see a leak: the instrumentations, left alone, record the key.
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument()
    try:
        emulator = Emulator()
        async with (
            served(emulator) as base_url,
            httpx.AsyncClient() as http,
            sp.AsyncSMSPartner(base_url=base_url, http_client=http) as client,
        ):
            await client.account()
    finally:
        instrumentor.uninstrument()
    assert leaks(spans.get_finished_spans())


def test_redact_url_masks_every_key() -> None:
    url = f"https://api.smspartner.fr/v1/me?apiKey={CANARY}&page=2&apikey={SUB_CANARY}"
    assert otel.redact_url(url) == "https://api.smspartner.fr/v1/me?apiKey=***&page=2&apikey=***"
    assert otel.redact_url(httpx.URL("https://example.com/x?a=1")) == "https://example.com/x?a=1"


async def test_without_the_extra_nothing_is_traced(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    server = Server(answer_for)
    async with server.client() as client:
        await client.account()
    assert ours(spans) == []
