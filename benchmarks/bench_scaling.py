"""Scaling: bulk top-up time for growing N, to show the cost per item stays flat.

``bulk_add_credit`` with 100 in flight against the emulator in its own process (uvicorn on
127.0.0.1, 20 ms per answer) for N = 1,000 / 5,000 / 20,000 (``--quick``: 100 / 200 / 400).
One line per N: ``ours`` is the time per item at that N, ``baseline`` the time per item at the
smallest N, ``ratio`` = ours / baseline (1.0 means perfectly linear). Medians of the rounds,
the sizes interleaved within each round.

    python benchmarks/bench_scaling.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import functools

from _common import (
    CONCURRENCY,
    LATENCY,
    Server,
    bulk_ours,
    emit,
    emulator_server,
    interleaved_async,
    median,
    parse_args,
)


async def _wall(server: Server, n: int) -> float:
    return (await bulk_ours(server, server.tokens[:n])).wall


def main() -> None:
    args = parse_args(__doc__ or "")
    sizes = [100, 200, 400] if args.quick else [1_000, 5_000, 20_000]
    rounds = args.rounds or (1 if args.quick else 3)

    with emulator_server(subaccounts=max(sizes), list_tokens=True) as server:

        async def measure() -> dict[str, list[float]]:
            await bulk_ours(server, server.tokens[:CONCURRENCY])  # warm up
            return await interleaved_async(
                {str(n): functools.partial(_wall, server, n) for n in sizes},
                rounds,
            )

        timings = asyncio.run(measure())

    smallest = sizes[0]
    per_item_base = median(timings[str(smallest)]) / smallest
    for n in sizes:
        per_item = median(timings[str(n)]) / n
        emit(
            f"scaling.bulk.n={n}",
            ours=per_item * 1000,
            baseline=per_item_base * 1000,
            ratio=per_item / per_item_base,
            unit="ms/item",
            n=n,
            total_s=median(timings[str(n)]),
            concurrency=CONCURRENCY,
            latency_s=LATENCY,
            rounds=rounds,
            backend="asyncio",
            baseline_is=f"ms/item at n={smallest}",
        )


if __name__ == "__main__":
    main()
