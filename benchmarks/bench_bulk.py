"""Bulk top-up: ``bulk_add_credit`` against hand-written loops, over a real socket.

The emulator runs in its own process (uvicorn on 127.0.0.1, 20 ms per answer); every contender
moves 0.01 EUR to each of N sub-accounts with 100 requests in flight (N = 5,000), a fresh
client per run. Figures are throughput (items/s); ``ratio`` = ours / baseline, the median of
the rounds' ratios (each round runs every contender back to back). Higher is better.

asyncio (ours: the library's default there, the aiohttp-backed transport):
- ``bulk.asyncio.vs_raw_aiohttp``: aiohttp ``ClientSession`` + ``asyncio.Semaphore``. Target >= 0.9.
- ``bulk.asyncio.vs_raw_httpx``: ``httpx.AsyncClient()`` with its default limits + semaphore.
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
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from _common import (
    LATENCY,
    Server,
    emit,
    emulator_server,
    interleaved_async,
    median,
    median_ratio,
    parse_args,
    require,
)

from smspartner_async import AsyncSMSPartner

AMOUNT = "0.01"
CONCURRENCY = 100

Contender = Callable[[Server, list[str]], Awaitable[float]]


def _payload(server: Server, token: str) -> dict[str, str]:
    return {"apiKey": server.api_key, "credit": AMOUNT, "tokenSubaccount": token}


def _check(ok: int, total: int, who: str) -> None:
    if ok != total:
        raise SystemExit(f"bench_bulk: {who} applied {ok} of {total} items; figures are void")


async def ours(server: Server, tokens: list[str]) -> float:
    """The library, with its defaults for the running event loop."""
    items = [(token, AMOUNT) for token in tokens]
    async with AsyncSMSPartner(server.api_key, base_url=server.base_url) as client:
        started = time.perf_counter()
        report = await client.subaccounts.bulk_add_credit(items, concurrency=CONCURRENCY)
        elapsed = time.perf_counter() - started
    _check(len(report.applied), len(tokens), "ours")
    return elapsed


async def raw_aiohttp(server: Server, tokens: list[str]) -> float:
    aiohttp = require("aiohttp", "raw aiohttp baseline")
    url = server.url("subaccount/credit/add")
    limit = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def one(token: str) -> bool:
            async with limit, session.post(url, json=_payload(server, token)) as answer:
                return json.loads(await answer.read())["success"] is True

        started = time.perf_counter()
        done = await asyncio.gather(*(one(token) for token in tokens))
        elapsed = time.perf_counter() - started
    _check(sum(done), len(tokens), "raw aiohttp")
    return elapsed


async def raw_httpx_asyncio(server: Server, tokens: list[str]) -> float:
    url = server.url("subaccount/credit/add")
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient() as client:

        async def one(token: str) -> bool:
            async with limit:
                answer = await client.post(url, json=_payload(server, token))
            return json.loads(answer.content)["success"] is True

        started = time.perf_counter()
        done = await asyncio.gather(*(one(token) for token in tokens))
        elapsed = time.perf_counter() - started
    _check(sum(done), len(tokens), "raw httpx")
    return elapsed


async def raw_httpx_trio(server: Server, tokens: list[str]) -> float:
    trio = require("trio", "trio baseline")
    url = server.url("subaccount/credit/add")
    limit = trio.Semaphore(CONCURRENCY)
    done: list[bool] = []
    async with httpx.AsyncClient() as client:

        async def one(token: str) -> None:
            async with limit:
                answer = await client.post(url, json=_payload(server, token))
            done.append(json.loads(answer.content)["success"] is True)

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for token in tokens:
                nursery.start_soon(one, token)
        elapsed = time.perf_counter() - started
    _check(sum(done), len(tokens), "raw httpx on trio")
    return elapsed


def sequential_requests(server: Server, tokens: list[str]) -> float:
    """The docs' style: one blocking ``requests.post`` after another, no session."""
    requests = require("requests", "sequential docs-style baseline")
    url = server.url("subaccount/credit/add")
    started = time.perf_counter()
    ok = 0
    for token in tokens:
        answer = requests.post(url, json=_payload(server, token), timeout=10)
        ok += answer.json()["success"] is True
    elapsed = time.perf_counter() - started
    _check(ok, len(tokens), "sequential requests")
    return elapsed


def _timed(contender: Contender, server: Server, tokens: list[str]) -> Callable[[], Any]:
    return lambda: contender(server, tokens)


def _ratios(timings: dict[str, list[float]], baseline: str) -> float:
    """Median over rounds of ours' throughput / the baseline's (= baseline time / ours)."""
    return median_ratio(timings[baseline], timings["ours"])


def _figure(
    name: str,
    timings: dict[str, list[float]],
    baseline: str,
    n: int,
    *,
    backend: str,
    target: float | None,
    baseline_is: str,
) -> None:
    ours_rate = n / median(timings["ours"])
    base_rate = n / median(timings[baseline])
    ratio = _ratios(timings, baseline)
    extra: dict[str, object] = {}
    if target is not None:
        extra = {"target": f">= {target}", "met": ratio >= target}
    emit(
        name,
        ours=ours_rate,
        baseline=base_rate,
        ratio=ratio,
        unit="items/s",
        n=n,
        concurrency=CONCURRENCY,
        latency_s=LATENCY,
        rounds=len(timings["ours"]),
        backend=backend,
        baseline_is=baseline_is,
        ours_s=median(timings["ours"]),
        baseline_s=median(timings[baseline]),
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

        async def on_asyncio() -> dict[str, list[float]]:
            await ours(server, tokens[:CONCURRENCY])  # warm up: imports, first connections
            contenders = {
                "ours": _timed(ours, server, tokens),
                "aiohttp": _timed(raw_aiohttp, server, tokens),
                "httpx": _timed(raw_httpx_asyncio, server, tokens),
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
        ours_rate = n / median(timings["ours"])
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
            ours_s=median(timings["ours"]),
            baseline_s=n * LATENCY / CONCURRENCY,
        )

        sequential = [
            sequential_requests(server, tokens[:sequential_n]) for _ in range(min(rounds, 3))
        ]
        per_item = median(sequential) / sequential_n
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
            ours_s=median(timings["ours"]),
        )

        async def on_trio() -> dict[str, list[float]]:
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
