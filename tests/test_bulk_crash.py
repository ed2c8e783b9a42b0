"""The done-when test of resumable bulk runs: SIGKILL the CLI mid-run, many times, and rerun.

The CLI runs as a real process against an emulator served over HTTP. It is killed at random
moments (during its start, its snapshot, its transfers, its journal's commits), then the same
command runs again until one finishes. Then the emulator's ledger must show every line of the
CSV applied at most once; the lines not applied must be exactly those the journal holds for
settlement; settlement must never contradict the ledger; and after the settlement and a last
resume, every line must be applied exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anyio.from_thread
import pytest

from smspartner_async._cli import ExitCode
from smspartner_async.testing import Emulator, Fault, served

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

ADD = "subaccount/credit/add"
LINES = 120


@pytest.fixture
def served_emulator() -> Iterator[tuple[Emulator, str]]:
    # 5 ms per answer: a run lasts long enough to be killed in the middle of its transfers.
    emulator = Emulator(main_balance="100000", latency=0.005)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(served(emulator, port=0)) as base_url,
    ):
        yield emulator, base_url


def _cli(base_url: str, key: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, SMSPARTNER_API_KEY=key)
    command = [sys.executable, "-m", "smspartner_async", "--base-url", base_url, "--json"]
    return subprocess.Popen(
        [*command, "--timeout", "2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _ledger(emulator: Emulator) -> Counter[str]:
    return Counter(t.token for t in emulator.transfers if t.operation == ADD)


def _crash_until_done(
    emulator: Emulator, base_url: str, csv: Path, rng: random.Random, kills: int
) -> tuple[int, dict[str, object]]:
    """Run ``credit bulk`` killing it ``kills`` times at random moments, then to its end."""
    killed = 0
    args = ["credit", "bulk", str(csv), "--concurrency", "8"]
    for attempt in range(kills + 10):
        proc = _cli(base_url, emulator.api_key, *args, *(["--resume"] if attempt else []))
        if killed < kills:
            time.sleep(rng.uniform(0.3, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=30)
                killed += 1
                continue
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        if proc.returncode == ExitCode.REFUSED:
            continue  # some transfers refused (an injected fault): the next run sends them
        assert proc.returncode in (ExitCode.OK, ExitCode.UNKNOWN), err
        report: dict[str, object] = json.loads(out)
        return proc.returncode, report
    raise AssertionError("the run never finished")


def _check_and_settle(emulator: Emulator, base_url: str, csv: Path, tokens: list[str]) -> None:
    ledger = _ledger(emulator)
    assert all(count <= 1 for count in ledger.values()), "a line was applied twice"
    # What the journal holds for settlement: exactly the lines that may have been applied.
    settle = _cli(base_url, emulator.api_key, "credit", "settle", str(csv), "--check")
    out, err = settle.communicate(timeout=60)
    assert settle.returncode in (ExitCode.OK, ExitCode.UNKNOWN), err
    pending = json.loads(out)
    to_settle = {item["line"] - 1: item for item in pending["items"]}
    for index, token in enumerate(tokens):
        if index not in to_settle:
            assert ledger[token] == 1, f"line {index + 1} neither applied nor to settle"
    for index, item in to_settle.items():
        assert item["evidence"], item
        landed = ledger[tokens[index]] == 1
        if item["verdict"] == "landed":
            assert landed, item
        if item["verdict"] == "not_landed":
            assert not landed, item
    # Settle for real; a person decides what the evidence leaves open (from the ledger here).
    landed_lines = [
        str(index + 1)
        for index, item in to_settle.items()
        if item["verdict"] == "undecided" and ledger[tokens[index]] == 1
    ]
    missed_lines = [
        str(index + 1)
        for index, item in to_settle.items()
        if item["verdict"] == "undecided" and ledger[tokens[index]] == 0
    ]
    decisions = [f"--landed={line}" for line in landed_lines]
    decisions += [f"--not-landed={line}" for line in missed_lines]
    done = _cli(base_url, emulator.api_key, "credit", "settle", str(csv), *decisions)
    _, err = done.communicate(timeout=60)
    assert done.returncode == ExitCode.OK, err
    final = _cli(base_url, emulator.api_key, "credit", "bulk", str(csv), "--resume")
    _, err = final.communicate(timeout=60)
    assert final.returncode == ExitCode.OK, err  # sends what did not land, or nothing
    assert _ledger(emulator) == Counter(tokens), "every line exactly once"


def _file(tmp_path: Path, emulator: Emulator) -> tuple[Path, list[str]]:
    tokens = emulator.seed_subaccounts(LINES, balance=3)
    csv = tmp_path / "top-ups.csv"
    rows = [f"{token};{1 + i % 7},{i % 100:02d}" for i, token in enumerate(tokens)]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return csv, tokens


def test_sigkill_at_random_moments_never_pays_twice(
    served_emulator: tuple[Emulator, str], tmp_path: Path
) -> None:
    emulator, base_url = served_emulator
    csv, tokens = _file(tmp_path, emulator)
    code, report = _crash_until_done(emulator, base_url, csv, random.Random(14), kills=5)
    results: list[dict[str, object]] = report["results"]  # type: ignore[assignment]
    assert report["applied"] == len([r for r in results if r["status"] == "applied"])
    assert code in (ExitCode.OK, ExitCode.UNKNOWN)
    _check_and_settle(emulator, base_url, csv, tokens)
    assert emulator.total_money() == Decimal("100000")


def test_sigkill_and_injected_faults_never_pay_twice(
    served_emulator: tuple[Emulator, str], tmp_path: Path
) -> None:
    emulator, base_url = served_emulator
    csv, tokens = _file(tmp_path, emulator)
    emulator.inject_randomly(
        0.08,
        faults=[
            Fault.status(429, retry_after=0),
            Fault.status(503),
            Fault.drop(),
            Fault.apply_then_drop(),
            Fault.apply_then_stall(3),
        ],
        endpoint=ADD,
    )
    _crash_until_done(emulator, base_url, csv, random.Random(41), kills=3)
    emulator.reset_faults()
    _check_and_settle(emulator, base_url, csv, tokens)
