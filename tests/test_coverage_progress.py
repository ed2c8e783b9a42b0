"""``ProgressBar`` through tqdm when it is installed, and silent once closed.

tqdm is not a dependency; a stand-in module under ``tqdm.auto`` records what the bar asks of it.
"""

from __future__ import annotations

import io
import re
import sys
import types
from typing import Any, ClassVar

import pytest

import smspartner_async as sp


class FakeTqdm:
    made: ClassVar[list[FakeTqdm]] = []

    def __init__(self, *, total: int, desc: str | None, unit: str) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = 0
        self.updates: list[int] = []
        self.closed = 0
        FakeTqdm.made.append(self)

    def update(self, step: int) -> None:
        self.updates.append(step)
        self.n += step

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def tqdm(monkeypatch: pytest.MonkeyPatch) -> type[FakeTqdm]:
    FakeTqdm.made = []
    auto: Any = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeTqdm
    package: Any = types.ModuleType("tqdm")
    package.auto = auto
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    return FakeTqdm


def test_with_tqdm_the_bar_goes_through_it(tqdm: type[FakeTqdm]) -> None:
    bar = sp.ProgressBar("top-ups")
    for done in (1, 2, 5, 10):
        bar(done, 10)
    [made] = tqdm.made
    assert (made.total, made.desc, made.unit) == (10, "top-ups", "item")
    assert made.updates == [1, 1, 3, 5]  # steps, from the running totals it is given
    assert made.closed == 1  # closed at done == total
    bar(10, 10)
    bar.close()
    assert made.closed == 1  # and only once


def test_in_a_notebook_without_ipywidgets_the_bar_is_its_own(
    tqdm: type[FakeTqdm], monkeypatch: pytest.MonkeyPatch
) -> None:
    # tqdm.auto would warn there (no widget without ipywidgets) and fall back to text anyway.
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # not importable
    bar = sp.ProgressBar("top-ups")
    bar(1, 2)
    bar(2, 2)
    assert tqdm.made == []


def test_an_explicit_stream_does_not_use_tqdm(tqdm: type[FakeTqdm]) -> None:
    sp.ProgressBar(stream=io.StringIO())(1, 2)
    assert tqdm.made == []


def test_a_closed_bar_draws_nothing() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = sp.ProgressBar("moves", stream=stream)
    bar(2, 2)
    drawn = stream.getvalue()
    assert re.fullmatch(r"\rmoves \[#{30}\] 2/2 \d+\.\d s\n", drawn), drawn
    bar(1, 2)
    assert stream.getvalue() == drawn
