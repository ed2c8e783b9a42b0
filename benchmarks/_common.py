"""Shared plumbing for the benchmarks: arguments, interleaved timing, JSON lines, the
emulator served by uvicorn in a process of its own, and the bulk top-up's contenders (the
library, raw aiohttp, raw httpx on asyncio and on trio) with the figure that compares two.

A server in the benchmark's own process would share its interpreter (and its GIL) with the
client being measured and skew every figure, so :func:`emulator_server` starts one with
``python _common.py serve ...``, waits for it with bounded polling and always stops it.

Run as a script, this module is that server process (``serve`` sub-command).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from importlib import metadata
from typing import Any, TypeVar

import attrs
import httpx

from smspartner_async import AsyncSMSPartner, BulkJournal

T = TypeVar("T")

#: Every figure's line carries these keys, whatever else it adds.
REQUIRED_KEYS = ("bench", "ours", "baseline", "ratio")
#: The emulator's answer latency for network benchmarks, in seconds.
LATENCY = 0.02
_STARTUP_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, a few seconds (the test suite's mode)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per figure")
    return parser.parse_args(argv)


def require(module: str, purpose: str) -> Any:
    """Import a baseline's package, or exit with a message saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        script = os.path.basename(sys.argv[0]) or "benchmark"
        sys.exit(
            f"{script}: the {purpose} needs the '{module}' package, which is not installed: "
            f"pip install {module}  (benchmarks/README.md lists what the benchmarks need)"
        )


def emit(
    bench: str,
    *,
    ours: float,
    baseline: float,
    ratio: float,
    **extra: object,
) -> None:
    """Print one figure as a JSON line (flushed, so a reader sees it at once)."""
    line: dict[str, object] = {
        "bench": bench,
        "ours": _round(ours),
        "baseline": _round(baseline),
        "ratio": round(ratio, 3),
    }
    line.update({k: _round(v) if isinstance(v, float) else v for k, v in extra.items()})
    print(json.dumps(line), flush=True)


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def versions() -> dict[str, str]:
    """Python and the package versions that shape the figures."""
    found = {"python": platform.python_version()}
    for name in ("smspartner-async", "httpx", "httpcore", "aiohttp", "anyio"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


# -- timing ------------------------------------------------------------------------------------


@attrs.define
class Span:
    """The wall-clock and CPU seconds one measured stretch took (see :func:`measured`)."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def measured() -> Iterator[Span]:
    """Time the ``with`` block: wall clock, and this process's CPU time.

    A client that is CPU-bound takes as much CPU as wall time; CPU time is also what moves
    least when other work shares the machine.
    """
    span = Span()
    wall, cpu = time.perf_counter(), time.process_time()
    yield span
    span.wall = time.perf_counter() - wall
    span.cpu = time.process_time() - cpu


async def interleaved_async(
    contenders: dict[str, Callable[[], Awaitable[T]]], rounds: int
) -> dict[str, list[T]]:
    """Run each contender once per round, alternating the order, and collect its timings.

    Each contender returns its own measurement (seconds per call or per run, or a
    :class:`Span`), so its setup is not counted. Alternating the order cancels "who ran
    first" effects.
    """
    timings: dict[str, list[T]] = {name: [] for name in contenders}
    names = list(contenders)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            timings[name].append(await contenders[name]())
    return timings


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def median_ratio(top: Sequence[float], bottom: Sequence[float]) -> float:
    """The median over rounds of ``top / bottom``.

    Each round's two timings ran back to back, so their ratio shrugs off the machine's drift
    between rounds (other work on a shared machine) better than a ratio of medians.
    """
    return median([t / b for t, b in zip(top, bottom, strict=True)])


# -- the emulator in its own process ---------------------------------------------------------


@attrs.frozen
class Server:
    """A running emulator: where it is, the key it accepts and the sub-accounts it holds."""

    base_url: str
    api_key: str
    tokens: list[str]

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def emulator_server(
    *, latency: float = LATENCY, subaccounts: int = 0, list_tokens: bool = False
) -> Iterator[Server]:
    """Serve a fresh emulator from a child process on 127.0.0.1 (a free port) while the block
    runs; the child is stopped however the block ends.

    ``subaccounts`` rows are seeded server-side; their tokens come back when ``list_tokens``.
    """
    require("uvicorn", "emulator server")
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "serve",
        f"--latency={latency}",
        f"--subaccounts={subaccounts}",
    ]
    if list_tokens:
        command.append("--list-tokens")
    child = subprocess.Popen(  # the child exits when its stdin closes or on terminate()
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        info = _first_line(child, _STARTUP_TIMEOUT)
        server = Server(info["base_url"], info["api_key"], info.get("tokens", []))
        _wait_until_answering(server, _STARTUP_TIMEOUT)
        yield server
    finally:
        _stop(child)


def _first_line(child: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    assert child.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(child.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0].strip():
        code = child.poll()
        raise RuntimeError(
            f"the emulator server did not start within {timeout:.0f} s (exit code {code})"
        )
    return dict(json.loads(lines[0]))


def _wait_until_answering(server: Server, timeout: float) -> None:
    """Bounded polling: ``GET me`` until it answers, or give up at the deadline."""
    url = server.url(f"me?apiKey={server.api_key}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the emulator server did not answer within {timeout:.0f} s")
        time.sleep(0.05)


def _stop(child: subprocess.Popen[str]) -> None:
    if child.stdin is not None:
        child.stdin.close()
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(_STOP_TIMEOUT)
    if child.stdout is not None:
        child.stdout.close()


# -- the bulk top-up's contenders -------------------------------------------------------------

#: What every bulk contender moves to each sub-account.
AMOUNT = "0.01"
#: Requests in flight in the bulk benchmarks, unless one says otherwise.
CONCURRENCY = 100
CREDIT_ADD = "subaccount/credit/add"


def credit_payload(server: Server, token: str) -> dict[str, str]:
    """The JSON body of one top-up, as the raw loops send it."""
    return {"apiKey": server.api_key, "credit": AMOUNT, "tokenSubaccount": token}


def check_applied(ok: int, total: int, who: str) -> None:
    """A run that did not apply every item measured something else: stop the benchmark."""
    if ok != total:
        script = os.path.basename(sys.argv[0]) or "benchmark"
        raise SystemExit(f"{script}: {who} applied {ok} of {total} items; figures are void")


async def bulk_ours(
    server: Server,
    tokens: list[str],
    *,
    concurrency: int = CONCURRENCY,
    journal: BulkJournal | None = None,
) -> Span:
    """``bulk_add_credit`` with the library's defaults for the running event loop, a fresh
    client per run; the client's opening and closing are not timed."""
    items = [(token, AMOUNT) for token in tokens]
    async with AsyncSMSPartner(server.api_key, base_url=server.base_url) as client:
        with measured() as span:
            report = await client.subaccounts.bulk_add_credit(
                items, concurrency=concurrency, journal=journal
            )
    check_applied(len(report.applied), len(tokens), "ours")
    return span


async def gathered(
    tokens: list[str], concurrency: int, one: Callable[[str], Awaitable[bool]], who: str
) -> Span:
    """Time a hand-written asyncio loop: ``one(token)`` for every token, at most
    ``concurrency`` at a time (``asyncio.Semaphore``), all gathered; each must return True."""
    limit = asyncio.Semaphore(concurrency)

    async def limited(token: str) -> bool:
        async with limit:
            return await one(token)

    with measured() as span:
        done = await asyncio.gather(*(limited(token) for token in tokens))
    check_applied(sum(done), len(tokens), who)
    return span


async def bulk_raw_aiohttp(
    server: Server, tokens: list[str], *, concurrency: int = CONCURRENCY
) -> Span:
    """The floor on asyncio: an aiohttp ``ClientSession`` + ``asyncio.Semaphore``."""
    aiohttp = require("aiohttp", "raw aiohttp baseline")
    url = server.url(CREDIT_ADD)
    async with aiohttp.ClientSession() as session:

        async def one(token: str) -> bool:
            async with session.post(url, json=credit_payload(server, token)) as answer:
                return json.loads(await answer.read())["success"] is True

        return await gathered(tokens, concurrency, one, "raw aiohttp")


async def bulk_raw_httpx(
    server: Server,
    tokens: list[str],
    *,
    concurrency: int = CONCURRENCY,
    client: httpx.AsyncClient | None = None,
) -> Span:
    """``httpx.AsyncClient.post`` + ``asyncio.Semaphore`` on asyncio; ``client`` defaults to
    ``httpx.AsyncClient()`` as people use it (its own transport, default limits)."""
    url = server.url(CREDIT_ADD)
    async with client or httpx.AsyncClient() as session:

        async def one(token: str) -> bool:
            answer = await session.post(url, json=credit_payload(server, token))
            return json.loads(answer.content)["success"] is True

        return await gathered(tokens, concurrency, one, "raw httpx")


async def bulk_raw_httpx_trio(
    server: Server, tokens: list[str], *, concurrency: int = CONCURRENCY
) -> Span:
    """The floor on trio: ``httpx.AsyncClient()`` (default limits) + ``trio.Semaphore``."""
    trio = require("trio", "trio baseline")
    url = server.url(CREDIT_ADD)
    limit = trio.Semaphore(concurrency)
    done: list[bool] = []
    async with httpx.AsyncClient() as session:

        async def one(token: str) -> None:
            async with limit:
                answer = await session.post(url, json=credit_payload(server, token))
            done.append(json.loads(answer.content)["success"] is True)

        with measured() as span:
            async with trio.open_nursery() as nursery:
                for token in tokens:
                    nursery.start_soon(one, token)
    check_applied(sum(done), len(tokens), "raw httpx on trio")
    return span


def bulk_run(
    n: int, concurrency: int, latency: float, rounds: int, backend: str
) -> dict[str, object]:
    """What a bulk figure was measured on: the first keys after ``ratio``."""
    return {
        "unit": "items/s",
        "n": n,
        "concurrency": concurrency,
        "latency_s": latency,
        "rounds": rounds,
        "backend": backend,
    }


def wall_s(spans: Sequence[Span]) -> float:
    """A contender's median wall-clock seconds per run."""
    return median([s.wall for s in spans])


def cpu_us_per_item(spans: Sequence[Span], n: int) -> float:
    """A contender's median CPU time per run, in microseconds per item."""
    return median([s.cpu for s in spans]) / n * 1e6


def against(ratio: float, target: float | None) -> dict[str, object]:
    """A figure's ``target`` and ``met`` keys (none without a target): ratio >= target."""
    return {} if target is None else {"target": f">= {target}", "met": ratio >= target}


def emit_throughput(
    name: str,
    mine: Sequence[Span],
    theirs: Sequence[Span],
    n: int,
    *,
    backend: str,
    target: float | None = None,
    **extra: object,
) -> None:
    """One bulk figure: two contenders' throughput (items/s) over the same rounds, at the
    default concurrency and latency.

    ``ratio`` is the median of the rounds' throughput ratios (wall clock); ``cpu_ratio`` the
    same with CPU time, the steadier figure on a shared machine.
    """
    ours_s, baseline_s = wall_s(mine), wall_s(theirs)
    ratio = median_ratio([s.wall for s in theirs], [s.wall for s in mine])
    emit(
        name,
        ours=n / ours_s,
        baseline=n / baseline_s,
        ratio=ratio,
        **bulk_run(n, CONCURRENCY, LATENCY, len(mine), backend),
        ours_s=ours_s,
        baseline_s=baseline_s,
        ours_cpu_us_per_item=cpu_us_per_item(mine, n),
        baseline_cpu_us_per_item=cpu_us_per_item(theirs, n),
        cpu_ratio=median_ratio([s.cpu for s in theirs], [s.cpu for s in mine]),
        **extra,
        **against(ratio, target),
    )


def _serve_main(argv: Sequence[str]) -> None:
    """The child: seed an emulator, print where it listens, serve until told to stop.

    uvicorn runs the emulator (an ASGI app) on its fastest pieces when they are installed
    (httptools, uvloop): the server's own cost per request should stay well under the
    client's, or every contender measures the server instead.
    """
    import socket  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from smspartner_async.testing import Emulator  # noqa: PLC0415

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=LATENCY)
    parser.add_argument("--subaccounts", type=int, default=0)
    parser.add_argument("--list-tokens", action="store_true")
    args = parser.parse_args(argv)

    emulator = Emulator(latency=args.latency, main_balance=Decimal(10**9))
    tokens = emulator.seed_subaccounts(args.subaccounts)
    config = uvicorn.Config(
        emulator,
        loop="uvloop" if _installed("uvloop") else "asyncio",
        http="httptools" if _installed("httptools") else "h11",
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,  # it would print GET query strings, API keys included
        backlog=2048,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    listener = socket.create_server(("127.0.0.1", 0), backlog=2048)
    port = listener.getsockname()[1]

    def exit_when_parent_goes() -> None:
        sys.stdin.read()  # EOF: the parent closed our stdin, or died
        server.should_exit = True
        time.sleep(_STOP_TIMEOUT)
        os._exit(0)

    threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    # The socket already listens: connections made before uvicorn runs wait in its backlog.
    info: dict[str, object] = {
        "base_url": f"http://127.0.0.1:{port}/v1/",
        "api_key": emulator.api_key,
        "server": f"uvicorn {config.http}/{config.loop}",
    }
    if args.list_tokens:
        info["tokens"] = tokens
    print(json.dumps(info), flush=True)
    server.run(sockets=[listener])


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _machine() -> None:
    """What benchmarks/README.md records about the machine."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                "?",
            )
    except OSError:
        pass
    print(json.dumps({"nproc": os.cpu_count(), "cpu": model, **versions()}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _serve_main(sys.argv[2:])
    elif sys.argv[1:2] == ["machine"]:
        _machine()
    else:
        sys.exit(
            "usage: _common.py serve [--latency S] [--subaccounts N] [--list-tokens]\n"
            "       _common.py machine"
        )
