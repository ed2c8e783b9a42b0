"""Bulk top-up: ``bulk_add_credit`` against hand-written loops, over a real socket.

The emulator runs in its own process (uvicorn on 127.0.0.1, 20 ms per answer); every contender
moves 0.01 EUR to each of N sub-accounts with 100 requests in flight (N = 5,000), a fresh
client per run. Figures are throughput (items/s); ``ratio`` = ours / baseline, the median of
the rounds' ratios (each round runs every contender back to back). Higher is better.

asyncio (ours: the library's default there, the aiohttp-backed transport):
- ``bulk.asyncio.vs_raw_aiohttp``: aiohttp ``ClientSession`` + ``asyncio.Semaphore``. Target >= 0.9.
- ``bulk.asyncio.vs_raw_httpx``: ``httpx.AsyncClient()`` with its default limits + semaphore.
- ``bulk.asyncio.vs_raw_httpx_same_transport``: ``httpx.AsyncClient`` over the library's own
  aiohttp transport + semaphore: the floor for anything built, as this library is, on httpx
  over aiohttp. Ours / it is what the library itself costs.
- ``bulk.asyncio.transport_vs_raw_aiohttp``: not ours, a bound: the library's aiohttp
  transport driven directly (an ``httpx.Request`` in, an ``httpx.Response`` out, no
  ``httpx.AsyncClient``, no library) against raw aiohttp. No client that hands httpx requests
  to aiohttp can reach a higher ratio than this one.
- ``bulk.asyncio.vs_latency_limit``: N x latency / concurrency, what no client can beat.
- ``bulk.asyncio.vs_sequential_requests``: the docs' loop, one ``requests.post`` after another;
  measured on a smaller N and reported per item (extrapolated to N).

trio (ours: httpx's own transport):
- ``bulk.trio.vs_raw_httpx``: ``httpx.AsyncClient()`` + ``trio.Semaphore``. Target >= 1.0.

    python benchmarks/bench_bulk.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from _common import (
    LATENCY,
    Server,
    Span,
    emit,
    emulator_server,
    interleaved_async,
    measured,
    median,
    median_ratio,
    parse_args,
    require,
)

from smspartner_async import AsyncSMSPartner
from smspartner_async._aiohttp import AiohttpTransport  # the transport under ours, on its own

AMOUNT = "0.01"
CONCURRENCY = 100

Contender = Callable[[Server, list[str]], Awaitable[Span]]


def _payload(server: Server, token: str) -> dict[str, str]:
    return {"apiKey": server.api_key, "credit": AMOUNT, "tokenSubaccount": token}


def _check(ok: int, total: int, who: str) -> None:
    if ok != total:
        raise SystemExit(f"bench_bulk: {who} applied {ok} of {total} items; figures are void")


async def ours(server: Server, tokens: list[str]) -> Span:
    """The library, with its defaults for the running event loop."""
    items = [(token, AMOUNT) for token in tokens]
    async with AsyncSMSPartner(server.api_key, base_url=server.base_url) as client:
        with measured() as span:
            report = await client.subaccounts.bulk_add_credit(items, concurrency=CONCURRENCY)
    _check(len(report.applied), len(tokens), "ours")
    return span


async def raw_aiohttp(server: Server, tokens: list[str]) -> Span:
    aiohttp = require("aiohttp", "raw aiohttp baseline")
    url = server.url("subaccount/credit/add")
    limit = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def one(token: str) -> bool:
            async with limit, session.post(url, json=_payload(server, token)) as answer:
                return json.loads(await answer.read())["success"] is True

        with measured() as span:
            done = await asyncio.gather(*(one(token) for token in tokens))
    _check(sum(done), len(tokens), "raw aiohttp")
    return span


async def _httpx_loop(client: httpx.AsyncClient, server: Server, tokens: list[str]) -> Span:
    url = server.url("subaccount/credit/add")
    limit = asyncio.Semaphore(CONCURRENCY)
    async with client:

        async def one(token: str) -> bool:
            async with limit:
                answer = await client.post(url, json=_payload(server, token))
            return json.loads(answer.content)["success"] is True

        with measured() as span:
            done = await asyncio.gather(*(one(token) for token in tokens))
    _check(sum(done), len(tokens), "raw httpx")
    return span


async def raw_httpx_asyncio(server: Server, tokens: list[str]) -> Span:
    """``httpx.AsyncClient()`` as people use it: its own transport, default limits."""
    return await _httpx_loop(httpx.AsyncClient(), server, tokens)


def _transport() -> AiohttpTransport:
    return AiohttpTransport(httpx.Limits(max_connections=CONCURRENCY))


async def raw_httpx_same_transport(server: Server, tokens: list[str]) -> Span:
    """``httpx.AsyncClient`` over the library's aiohttp transport: httpx at its fastest."""
    return await _httpx_loop(httpx.AsyncClient(transport=_transport()), server, tokens)


async def transport_alone(server: Server, tokens: list[str]) -> Span:
    """The aiohttp transport driven directly: httpx's request and response objects, no client."""
    url = httpx.URL(server.url("subaccount/credit/add"))
    limit = asyncio.Semaphore(CONCURRENCY)
    transport = _transport()

    async def one(token: str) -> bool:
        async with limit:
            request = httpx.Request("POST", url, json=_payload(server, token))
            answer = await transport.handle_async_request(request)
        return json.loads(await answer.aread())["success"] is True

    try:
        with measured() as span:
            done = await asyncio.gather(*(one(token) for token in tokens))
    finally:
        await transport.aclose()
    _check(sum(done), len(tokens), "the aiohttp transport alone")
    return span


async def raw_httpx_trio(server: Server, tokens: list[str]) -> Span:
    trio = require("trio", "trio baseline")
    url = server.url("subaccount/credit/add")
    limit = trio.Semaphore(CONCURRENCY)
    done: list[bool] = []
    async with httpx.AsyncClient() as client:

        async def one(token: str) -> None:
            async with limit:
                answer = await client.post(url, json=_payload(server, token))
            done.append(json.loads(answer.content)["success"] is True)

        with measured() as span:
            async with trio.open_nursery() as nursery:
                for token in tokens:
                    nursery.start_soon(one, token)
    _check(sum(done), len(tokens), "raw httpx on trio")
    return span


def sequential_requests(server: Server, tokens: list[str]) -> Span:
    """The docs' style: one blocking ``requests.post`` after another, no session."""
    requests = require("requests", "sequential docs-style baseline")
    url = server.url("subaccount/credit/add")
    with measured() as span:
        ok = 0
        for token in tokens:
            answer = requests.post(url, json=_payload(server, token), timeout=10)
            ok += answer.json()["success"] is True
    _check(ok, len(tokens), "sequential requests")
    return span


Spans = dict[str, list[Span]]


def _timed(contender: Contender, server: Server, tokens: list[str]) -> Callable[[], Any]:
    return lambda: contender(server, tokens)


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
    """One throughput figure: ``ours`` against ``baseline``, over the same rounds.

    ``ratio`` is the median of the rounds' throughput ratios (wall clock); ``cpu_ratio`` the
    same with CPU time, the steadier figure on a shared machine.
    """
    mine, theirs = spans[ours], spans[baseline]
    ours_s = median([s.wall for s in mine])
    baseline_s = median([s.wall for s in theirs])
    ratio = median_ratio([s.wall for s in theirs], [s.wall for s in mine])
    if target is not None:
        extra |= {"target": f">= {target}", "met": ratio >= target}
    emit(
        name,
        ours=n / ours_s,
        baseline=n / baseline_s,
        ratio=ratio,
        unit="items/s",
        n=n,
        concurrency=CONCURRENCY,
        latency_s=LATENCY,
        rounds=len(mine),
        backend=backend,
        baseline_is=baseline_is,
        ours_s=ours_s,
        baseline_s=baseline_s,
        ours_cpu_us_per_item=median([s.cpu for s in mine]) / n * 1e6,
        baseline_cpu_us_per_item=median([s.cpu for s in theirs]) / n * 1e6,
        cpu_ratio=median_ratio([s.cpu for s in theirs], [s.cpu for s in mine]),
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
            await ours(server, tokens[:CONCURRENCY])  # warm up: imports, first connections
            contenders = {
                "ours": _timed(ours, server, tokens),
                "aiohttp": _timed(raw_aiohttp, server, tokens),
                "httpx": _timed(raw_httpx_asyncio, server, tokens),
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
            target=0.9,
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
            note="a bound, not the library: no client on httpx over aiohttp can reach more",
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
            await ours(server, tokens[:CONCURRENCY])
            contenders = {
                "ours": _timed(ours, server, tokens),
                "httpx": _timed(raw_httpx_trio, server, tokens),
            }
            return await interleaved_async(contenders, rounds)

        trio_timings = trio.run(on_trio)
        _figure(
            "bulk.trio.vs_raw_httpx",
            trio_timings,
            "httpx",
            n,
            backend="trio",
            target=1.0,
            baseline_is="httpx.AsyncClient() default limits + trio.Semaphore(100)",
        )


if __name__ == "__main__":
    main()
