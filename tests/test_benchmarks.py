"""Each benchmark runs, in its quick mode, and speaks the JSON-lines format it promises.

No timing is asserted: figures belong to ``benchmarks/README.md``, not to a test suite that
runs on loaded machines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
KEYS = {"bench", "ours", "baseline", "ratio"}
#: Every script; the test extra installs what they all need (the bench extra).
SCRIPTS = [
    "bench_bulk.py",
    "bench_journal.py",
    "bench_keepalive.py",
    "bench_latency.py",
    "bench_overhead.py",
    "bench_paging.py",
    "bench_scaling.py",
]


def test_every_benchmark_is_covered() -> None:
    assert sorted(p.name for p in BENCHMARKS.glob("bench_*.py")) == SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_quick_and_prints_json_lines(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines, done.stderr[-3000:]
    for line in lines:
        figure = json.loads(line)
        assert isinstance(figure, dict)
        assert figure.keys() >= KEYS, line
        assert isinstance(figure["bench"], str)
        for key in ("ours", "baseline", "ratio"):
            assert isinstance(figure[key], int | float), line
