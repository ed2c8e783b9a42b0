"""Bulk top-up at a realistic API latency: how close ``bulk_add_credit`` comes to the limit.

With ``c`` requests in flight and every answer taking ``L`` seconds, no client moves N items in
less than N x L / c seconds: the latency limit, ``c / L`` items/s. The emulator runs in its own
process (uvicorn on 127.0.0.1) answering after 50 ms, then after 100 ms; at each latency the
library's ``bulk_add_credit`` moves 0.01 EUR to each of N sub-accounts with 16, then 100
requests in flight, a fresh client per run, N = 400 and 1,000 (25 and 10 waves), on
asyncio (the aiohttp-backed transport) and on trio (httpx's own transport). The hand-written
loops run in the same rounds as the floor: raw aiohttp and raw ``httpx.AsyncClient()`` on
asyncio, raw httpx on trio, each with a semaphore of ``c``.

One line per backend, latency and concurrency, ``latency.<backend>.<L>ms.c<c>``: ``ours`` is
the library's throughput (items/s), ``baseline`` the latency limit's, ``ratio`` = limit time /
measured time (the median over rounds; 1.0 is the limit). ``raw_<loop>_items_s`` and
``raw_<loop>_vs_limit`` (and ``raw_<loop>_cpu_us_per_item``) give the floor the same way.
``ours_cpu_share`` is the client's CPU time over its wall time (1.0: one core, all the time) and
``load_avg_1m`` the machine's load when the figure was taken: a client starved of CPU by other
work on the machine falls short of the limit for that reason alone. Target: ratio >= 0.95 at 50 ms,
concurrency 16 (a bulk run within 5 % of what the latency allows). ``--quick``: 50 ms only,
2 waves, 1 round.

    python benchmarks/bench_latency.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable

from _common import (
    Server,
    Span,
    against,
    bulk_ours,
    bulk_raw_aiohttp,
    bulk_raw_httpx,
    bulk_raw_httpx_trio,
    bulk_run,
    cpu_us_per_item,
    emit,
    emulator_server,
    interleaved_async,
    median,
    median_ratio,
    parse_args,
    require,
    wall_s,
)

LATENCIES = (0.05, 0.1)
#: N for each concurrency, a whole number of waves (every slot sends as many requests): 25
#: waves at 16, 10 at 100, where every contender is CPU-bound and longer runs add nothing.
ITEMS = {16: 400, 100: 1_000}
QUICK_WAVES = 2
#: (latency, concurrency) -> the ratio to reach.
TARGETS = {(0.05, 16): 0.95}

Spans = dict[str, list[Span]]
Contenders = dict[str, Callable[[], Awaitable[Span]]]


def _contenders(backend: str, server: Server, tokens: list[str], concurrency: int) -> Contenders:
    """The library first, then the raw loops that run on ``backend``."""
    loops: dict[str, Callable[..., Awaitable[Span]]] = {"ours": bulk_ours}
    if backend == "asyncio":
        loops |= {"raw_aiohttp": bulk_raw_aiohttp, "raw_httpx": bulk_raw_httpx}
    else:
        loops |= {"raw_httpx": bulk_raw_httpx_trio}
    return {
        name: functools.partial(loop, server, tokens, concurrency=concurrency)
        for name, loop in loops.items()
    }


async def _measure(
    backend: str, server: Server, tokens: list[str], concurrency: int, rounds: int
) -> Spans:
    await bulk_ours(server, tokens[:concurrency], concurrency=concurrency)  # warm up
    return await interleaved_async(_contenders(backend, server, tokens, concurrency), rounds)


def _figure(backend: str, latency: float, concurrency: int, spans: Spans, n: int) -> None:
    limit_s = n * latency / concurrency

    def vs_limit(runs: list[Span]) -> float:
        return median_ratio([limit_s] * len(runs), [s.wall for s in runs])

    floor: dict[str, object] = {}
    for name, runs in spans.items():
        if name != "ours":
            floor[f"{name}_items_s"] = n / wall_s(runs)
            floor[f"{name}_vs_limit"] = round(vs_limit(runs), 3)
            floor[f"{name}_cpu_us_per_item"] = cpu_us_per_item(runs, n)
    mine = spans["ours"]
    ratio = vs_limit(mine)
    emit(
        f"latency.{backend}.{latency * 1000:.0f}ms.c{concurrency}",
        ours=n / wall_s(mine),
        baseline=concurrency / latency,
        ratio=ratio,
        **bulk_run(n, concurrency, latency, len(mine), backend),
        baseline_is="the latency limit: concurrency / latency items/s (N x latency / c seconds)",
        limit_s=limit_s,
        ours_s=wall_s(mine),
        ours_cpu_us_per_item=cpu_us_per_item(mine, n),
        ours_cpu_share=median([s.cpu / s.wall for s in mine]),
        load_avg_1m=os.getloadavg()[0],
        **floor,
        **against(ratio, TARGETS.get((latency, concurrency))),
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    latencies = LATENCIES[:1] if args.quick else LATENCIES
    rounds = args.rounds or (1 if args.quick else 3)
    require("aiohttp", "raw aiohttp baseline")
    trio = require("trio", "trio run")
    items = {c: QUICK_WAVES * c for c in ITEMS} if args.quick else ITEMS

    for latency in latencies:
        with emulator_server(
            latency=latency, subaccounts=max(items.values()), list_tokens=True
        ) as server:
            for concurrency, n in items.items():
                tokens = server.tokens[:n]
                spans = asyncio.run(_measure("asyncio", server, tokens, concurrency, rounds))
                _figure("asyncio", latency, concurrency, spans, n)
                spans = trio.run(_measure, "trio", server, tokens, concurrency, rounds)
                _figure("trio", latency, concurrency, spans, n)


if __name__ == "__main__":
    main()
