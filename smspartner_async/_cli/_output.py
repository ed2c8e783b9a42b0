"""How the CLI prints: aligned tables for people, JSON for programs, money never as a float."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Collection, Sequence
from decimal import Decimal

import anyio.to_thread

from smspartner_async._money import format_money

_PLACES = Decimal("0.001")

__all__ = [
    "ask",
    "count",
    "emit_json",
    "fancy_terminal",
    "interactive",
    "money",
    "money_json",
    "pairs",
    "shown",
    "table",
]

#: What a terminal acts on instead of printing: C0 and C1 controls (escape sequences clear the
#: screen, set the window title, hide text), DEL, Unicode line separators and the bidirectional
#: overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` for a terminal: every control character escaped as Python writes it
    (``\\x1b``, ``\\n``, ``\\u202e``). Server text goes through this before it is printed for
    people; ``--json`` output stays exact."""

    def escape(match: re.Match[str]) -> str:
        char = match[0]
        if keep_newlines and char == "\n":
            return char
        return char.encode("unicode_escape").decode("ascii")

    return _CONTROL.sub(escape, text)


def money(amount: Decimal) -> str:
    """An amount for people: the library's one rule (``1,234.500``)."""
    return format_money(amount)


def count(n: int, noun: str) -> str:
    """``1 item``, ``2 items``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def money_json(amount: Decimal) -> str:
    """An amount for programs: the exact decimal as a string, never exponent notation.

    Three places like the API's balances (``"5.000"``), unless that would round: credit
    answers come as JSON numbers and are shown exactly as received then.
    """
    fixed = amount.quantize(_PLACES) if amount.is_finite() else amount
    return format(fixed if fixed == amount else amount, "f")


def emit_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False))


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = ()
) -> str:
    """Rows as aligned columns under a header; columns numbered in ``right`` align right.
    Control characters in cells are escaped (see :func:`shown`)."""
    rows = [[shown(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = ["-" * w if h else "" for h, w in zip(headers, widths, strict=True)]
    return "\n".join([line(headers), line(rule), *map(line, rows)])


def pairs(items: Sequence[tuple[str, str]], *, indent: str = "", right: bool = False) -> str:
    """``label  value`` lines with the values aligned (right-aligned for amounts); control
    characters escaped (see :func:`shown`)."""
    items = [(shown(label), shown(value)) for label, value in items]
    width = max((len(label) for label, _ in items), default=0)
    values = max((len(value) for _, value in items), default=0)
    return "\n".join(
        f"{indent}{label.ljust(width)}  {value.rjust(values) if right else value}".rstrip()
        for label, value in items
    )


def fancy_terminal() -> bool:
    """Whether both stdout and stderr are terminals: only then is a progress bar drawn.

    Checking both keeps ``demo | less`` clean: a bar on stderr would land between lines the
    pager shows later.
    """
    return _isatty(sys.stdout) and _isatty(sys.stderr)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


def interactive() -> bool:
    """Whether a person is at the keyboard: stdin and stdout are terminals. Only then does the
    CLI ask a question; otherwise it never waits for input."""
    return _isatty(sys.stdin) and _isatty(sys.stdout)


async def ask(prompt: str) -> str:
    """A line typed at the terminal (in a worker thread: the event loop goes on); "" at EOF."""

    def read() -> str:
        try:
            return input(prompt)
        except EOFError:
            return ""

    return await anyio.to_thread.run_sync(read)
