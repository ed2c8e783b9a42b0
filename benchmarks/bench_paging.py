"""Paging: ``subaccounts.list()`` with pages fetched ahead, and its memory while streaming.

The emulator runs in its own process (uvicorn on 127.0.0.1, 20 ms per answer) and seeds the
rows itself.

- ``paging.prefetch8_vs_prefetch1``: walking 10,000 sub-accounts (500 pages) with
  ``list(prefetch=8)`` against ``list(prefetch=1)``; figures in rows/s, ``ratio`` = how many
  times faster prefetch=8 is (median of the rounds' ratios). Target >= 6.
- ``paging.background8_vs_prefetch1``: the same walk under ``async with list(prefetch=8)``,
  where the window slides in the background between steps.
- ``paging.stream_memory``: peak memory growth (tracemalloc, in this client process) while
  streaming 100,000 rows with ``prefetch=8`` and keeping none; ``baseline`` is the 30 MB
  budget, ``ratio`` = peak / budget. Target < 1.

    python benchmarks/bench_paging.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc

from _common import (
    Server,
    emit,
    emulator_server,
    interleaved_async,
    median,
    median_ratio,
    parse_args,
)

from smspartner_async import AsyncSMSPartner

MEMORY_BUDGET_MB = 30.0


async def walk(server: Server, *, prefetch: int, expected: int, background: bool = False) -> float:
    """Seconds to iterate every row once (``background``: under ``async with``, where the
    window slides between steps instead of refilling when drained)."""
    async with AsyncSMSPartner(server.api_key, base_url=server.base_url) as client:
        started = time.perf_counter()
        rows = 0
        if background:
            async with client.subaccounts.list(prefetch=prefetch) as walked:
                async for _ in walked:
                    rows += 1
        else:
            async for _ in client.subaccounts.list(prefetch=prefetch):
                rows += 1
        elapsed = time.perf_counter() - started
    if rows != expected:
        raise SystemExit(f"bench_paging: walked {rows} rows, expected {expected}")
    return elapsed


async def stream_peak_mb(server: Server, *, expected: int) -> tuple[float, float]:
    """Peak traced memory growth (MB) while streaming every row, and the walk's seconds."""
    async with AsyncSMSPartner(server.api_key, base_url=server.base_url) as client:
        await client.subaccounts.list_page()  # warm up: connections, imports, caches
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            started = time.perf_counter()
            rows = 0
            async for _ in client.subaccounts.list(prefetch=8):
                rows += 1
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    if rows != expected:
        raise SystemExit(f"bench_paging: streamed {rows} rows, expected {expected}")
    return (peak - before) / 2**20, elapsed


def main() -> None:
    args = parse_args(__doc__ or "")
    rows = 400 if args.quick else 10_000
    stream_rows = 2_000 if args.quick else 100_000
    rounds = args.rounds or (1 if args.quick else 3)

    with emulator_server(subaccounts=rows) as server:

        async def compare() -> dict[str, list[float]]:
            await walk(server, prefetch=8, expected=rows)  # warm up
            return await interleaved_async(
                {
                    "prefetch8": lambda: walk(server, prefetch=8, expected=rows),
                    "background8": lambda: walk(server, prefetch=8, expected=rows, background=True),
                    "prefetch1": lambda: walk(server, prefetch=1, expected=rows),
                },
                rounds,
            )

        timings = asyncio.run(compare())
    ratio = median_ratio(timings["prefetch1"], timings["prefetch8"])
    emit(
        "paging.prefetch8_vs_prefetch1",
        ours=rows / median(timings["prefetch8"]),
        baseline=rows / median(timings["prefetch1"]),
        ratio=ratio,
        unit="rows/s",
        n=rows,
        pages=-(-rows // 20),
        latency_s=0.02,
        rounds=rounds,
        backend="asyncio",
        baseline_is="list(prefetch=1)",
        ours_s=median(timings["prefetch8"]),
        baseline_s=median(timings["prefetch1"]),
        target=">= 6",
        met=ratio >= 6,
    )
    background = median_ratio(timings["prefetch1"], timings["background8"])
    emit(
        "paging.background8_vs_prefetch1",
        ours=rows / median(timings["background8"]),
        baseline=rows / median(timings["prefetch1"]),
        ratio=background,
        unit="rows/s",
        n=rows,
        latency_s=0.02,
        rounds=rounds,
        backend="asyncio",
        ours_is="async with list(prefetch=8) (the window slides in the background)",
        baseline_is="list(prefetch=1)",
        ours_s=median(timings["background8"]),
        baseline_s=median(timings["prefetch1"]),
        target=">= 6",
        met=background >= 6,
    )

    with emulator_server(subaccounts=stream_rows) as server:
        peak_mb, elapsed = asyncio.run(stream_peak_mb(server, expected=stream_rows))
    emit(
        "paging.stream_memory",
        ours=peak_mb,
        baseline=MEMORY_BUDGET_MB,
        ratio=peak_mb / MEMORY_BUDGET_MB,
        unit="MB peak growth (tracemalloc)",
        n=stream_rows,
        prefetch=8,
        backend="asyncio",
        baseline_is="the 30 MB budget",
        walk_s=elapsed,
        target=f"< {MEMORY_BUDGET_MB:g} MB",
        met=peak_mb < MEMORY_BUDGET_MB,
    )


if __name__ == "__main__":
    main()
