"""What the journal of a resumable bulk run costs: ``bulk_add_credit`` with and without one.

The emulator runs in its own process (uvicorn on 127.0.0.1, 20 ms per answer), holding N
sub-accounts; each run moves 0.01 EUR to each of them with 100 requests in flight (N = 5,000),
a fresh client per run, and with the journal a fresh journal file per run: its first call
reads every balance (the snapshot, N / 20 pages), records the items, then each intent before
its request and each outcome after. Contenders alternate within each round; ``ratio`` =
throughput with the journal / without, the median of the rounds' ratios. Target >= 0.9 (the
journal costs at most 10%).

- ``journal.asyncio``: on asyncio (the library's aiohttp-backed transport).
- ``journal.trio``: on trio (httpx's own transport).

    python benchmarks/bench_journal.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import (
    Server,
    Span,
    bulk_ours,
    emit_throughput,
    emulator_server,
    interleaved_async,
    parse_args,
    require,
)

from smspartner_async import BulkJournal


def _contenders(
    server: Server, tokens: list[str], folder: Path
) -> dict[str, Callable[[], Awaitable[Span]]]:
    runs = iter(range(1_000_000))

    async def with_journal() -> Span:
        journal = BulkJournal(folder / f"run-{next(runs)}.journal")
        return await bulk_ours(server, tokens, journal=journal)

    async def without() -> Span:
        return await bulk_ours(server, tokens)

    return {"journal": with_journal, "plain": without}


def _figure(name: str, spans: dict[str, list[Span]], n: int, backend: str) -> None:
    emit_throughput(
        name,
        spans["journal"],
        spans["plain"],
        n,
        backend=backend,
        target=0.9,
        ours_is="bulk_add_credit with a new BulkJournal (snapshot, intents, outcomes)",
        baseline_is="bulk_add_credit without a journal",
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 300 if args.quick else 5_000
    rounds = args.rounds or (1 if args.quick else 5)
    trio = require("trio", "trio run")
    with (
        emulator_server(subaccounts=n, list_tokens=True) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        tokens = server.tokens[:n]
        folder = Path(tmp)

        async def on(backend_name: str) -> dict[str, list[Span]]:
            (folder / backend_name).mkdir()
            contenders = _contenders(server, tokens, folder / backend_name)
            await contenders["plain"]()  # warm up: imports, first connections
            return await interleaved_async(contenders, rounds)

        _figure("journal.asyncio", asyncio.run(on("asyncio")), n, "asyncio")
        _figure("journal.trio", trio.run(on, "trio"), n, "trio")


if __name__ == "__main__":
    main()
