"""Bulk top-up: ``bulk_add_credit`` against hand-written loops, over a real socket.

The emulator runs in its own process (uvicorn on 127.0.0.1, 20 ms per answer); every contender
moves 0.01 EUR to each of N sub-accounts with 100 requests in flight (N = 5,000), a fresh
client per run. Figures are throughput (items/s); ``ratio`` = ours / baseline, the median of
the rounds' ratios (each round runs every contender back to back). Higher is better.

asyncio (ours: the library's default there, the aiohttp-backed transport):
- ``bulk.asyncio.vs_raw_aiohttp``: aiohttp ``ClientSession`` + ``asyncio.Semaphore``.
  Target >= 0.65.
- ``bulk.asyncio.vs_raw_httpx``: ``httpx.AsyncClient()`` with its default limits + semaphore.
- ``bulk.asyncio.vs_raw_httpx_same_transport``: ``httpx.AsyncClient`` over the library's own
  aiohttp transport + semaphore: the floor for the library as it is built (httpx over that
  transport). Ours / it is what the library itself costs.
- ``bulk.asyncio.transport_vs_raw_aiohttp``: not ours: the library's aiohttp transport driven
  directly (an ``httpx.Request`` in, an ``httpx.Response`` out, no ``httpx.AsyncClient``, no
  library) against raw aiohttp: what that layer alone costs. Not a bound: a leaner transport
  on aiohttp's public API has done better (README, "Transport search (closed)").
- ``bulk.asyncio.vs_latency_limit``: N x latency / concurrency, what no client can beat.
- ``bulk.asyncio.vs_sequential_requests``: the docs' loop, one ``requests.post`` after another;
  measured on a smaller N and reported per item (extrapolated to N).

trio (ours: httpx's own transport):
- ``bulk.trio.vs_raw_httpx``: ``httpx.AsyncClient()`` + ``trio.Semaphore``. Target >= 1.3.

    python benchmarks/bench_bulk.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable

import httpx
from _common import (
    CONCURRENCY,
    CREDIT_ADD,
    LATENCY,
    Server,
    Span,
    bulk_ours,
    bulk_raw_aiohttp,
    bulk_raw_httpx,
    bulk_raw_httpx_trio,
    check_applied,
    credit_payload,
    emit,
    emit_throughput,
    emulator_server,
    gathered,
    interleaved_async,
    measured,
    median,
    parse_args,
    require,
)

from smspartner_async._aiohttp import AiohttpTransport  # the transport under ours, on its own


def _transport() -> AiohttpTransport:
    return AiohttpTransport(httpx.Limits(max_connections=CONCURRENCY))


async def raw_httpx_same_transport(server: Server, tokens: list[str]) -> Span:
    """``httpx.AsyncClient`` over the library's aiohttp transport: httpx at its fastest."""
    return await bulk_raw_httpx(server, tokens, client=httpx.AsyncClient(transport=_transport()))


async def transport_alone(server: Server, tokens: list[str]) -> Span:
    """The aiohttp transport driven directly: httpx's request and response objects, no client."""
    url = httpx.URL(server.url(CREDIT_ADD))
    transport = _transport()

    async def one(token: str) -> bool:
        request = httpx.Request("POST", url, json=credit_payload(server, token))
        answer = await transport.handle_async_request(request)
        return json.loads(await answer.aread())["success"] is True

    try:
        return await gathered(tokens, CONCURRENCY, one, "the aiohttp transport alone")
    finally:
        await transport.aclose()


def sequential_requests(server: Server, tokens: list[str]) -> Span:
    """The docs' style: one blocking ``requests.post`` after another, no session."""
    requests = require("requests", "sequential docs-style baseline")
    url = server.url(CREDIT_ADD)
    with measured() as span:
        ok = 0
        for token in tokens:
            answer = requests.post(url, json=credit_payload(server, token), timeout=10)
            ok += answer.json()["success"] is True
    check_applied(ok, len(tokens), "sequential requests")
    return span


Spans = dict[str, list[Span]]


def _timed(
    contender: Callable[[Server, list[str]], Awaitable[Span]], server: Server, tokens: list[str]
) -> Callable[[], Awaitable[Span]]:
    return functools.partial(contender, server, tokens)


def _figure(
    name: str,
    spans: Spans,
    baseline: str,
    n: int,
    *,
    ours: str = "ours",
    backend: str,
    target: float | None,
    baseline_is: str,
    **extra: object,
) -> None:
    """One throughput figure: ``ours`` against ``baseline``, over the same rounds."""
    emit_throughput(
        name,
        spans[ours],
        spans[baseline],
        n,
        backend=backend,
        target=target,
        baseline_is=baseline_is,
        **extra,
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 300 if args.quick else 5_000
    sequential_n = 10 if args.quick else 100
    rounds = args.rounds or (1 if args.quick else 5)
    require("aiohttp", "raw aiohttp baseline")
    require("requests", "sequential docs-style baseline")
    trio = require("trio", "trio baseline")

    with emulator_server(subaccounts=n, list_tokens=True) as server:
        tokens = server.tokens[:n]

        async def on_asyncio() -> Spans:
            await bulk_ours(server, tokens[:CONCURRENCY])  # warm up: imports, first connections
            contenders = {
                "ours": _timed(bulk_ours, server, tokens),
                "aiohttp": _timed(bulk_raw_aiohttp, server, tokens),
                "httpx": _timed(bulk_raw_httpx, server, tokens),
                "httpx_same_transport": _timed(raw_httpx_same_transport, server, tokens),
                "transport": _timed(transport_alone, server, tokens),
            }
            return await interleaved_async(contenders, rounds)

        timings = asyncio.run(on_asyncio())
        _figure(
            "bulk.asyncio.vs_raw_aiohttp",
            timings,
            "aiohttp",
            n,
            backend="asyncio",
            target=0.65,
            baseline_is="aiohttp.ClientSession + asyncio.Semaphore(100)",
        )
        _figure(
            "bulk.asyncio.vs_raw_httpx",
            timings,
            "httpx",
            n,
            backend="asyncio",
            target=None,
            baseline_is="httpx.AsyncClient() default limits + asyncio.Semaphore(100)",
        )
        _figure(
            "bulk.asyncio.vs_raw_httpx_same_transport",
            timings,
            "httpx_same_transport",
            n,
            backend="asyncio",
            target=None,
            baseline_is="httpx.AsyncClient over the library's aiohttp transport + semaphore",
        )
        _figure(
            "bulk.asyncio.transport_vs_raw_aiohttp",
            timings,
            "aiohttp",
            n,
            ours="transport",
            backend="asyncio",
            target=None,
            baseline_is="aiohttp.ClientSession + asyncio.Semaphore(100)",
            ours_is="the library's aiohttp transport alone: httpx.Request in, httpx.Response out",
            note="not the library: its transport layer alone (not a bound, see the README)",
        )
        ours_s = median([s.wall for s in timings["ours"]])
        ours_rate = n / ours_s
        limit_rate = CONCURRENCY / LATENCY
        emit(
            "bulk.asyncio.vs_latency_limit",
            ours=ours_rate,
            baseline=limit_rate,
            ratio=ours_rate / limit_rate,
            unit="items/s",
            n=n,
            backend="asyncio",
            baseline_is="N x latency / concurrency (no client can go faster)",
            ours_s=ours_s,
            baseline_s=n * LATENCY / CONCURRENCY,
        )

        sequential = [
            sequential_requests(server, tokens[:sequential_n]) for _ in range(min(rounds, 3))
        ]
        per_item = median([s.wall for s in sequential]) / sequential_n
        emit(
            "bulk.asyncio.vs_sequential_requests",
            ours=ours_rate,
            baseline=1 / per_item,
            ratio=ours_rate * per_item,
            unit="items/s",
            n=n,
            backend="asyncio",
            baseline_is="sequential requests.post loop (docs style, no session)",
            baseline_n=sequential_n,
            baseline_per_item_ms=per_item * 1000,
            baseline_extrapolated_s=per_item * n,
            note=f"sequential loop measured on {sequential_n} items, extrapolated to n",
            ours_s=ours_s,
        )

        async def on_trio() -> Spans:
            await bulk_ours(server, tokens[:CONCURRENCY])
            contenders = {
                "ours": _timed(bulk_ours, server, tokens),
                "httpx": _timed(bulk_raw_httpx_trio, server, tokens),
            }
            return await interleaved_async(contenders, rounds)

        trio_timings = trio.run(on_trio)
        _figure(
            "bulk.trio.vs_raw_httpx",
            trio_timings,
            "httpx",
            n,
            backend="trio",
            target=1.3,
            baseline_is="httpx.AsyncClient() default limits + trio.Semaphore(100)",
        )


if __name__ == "__main__":
    main()
