"""Reading the top-up lists operators have: CSV files out of Excel or LibreOffice, French or
English, checked whole before anything is sent.

What is read:

- the encoding: UTF-8 (with or without the BOM Excel writes for "CSV UTF-8"), else
  Windows-1252 (Excel's plain "CSV" in western locales);
- the separator: ``;`` (French locales, whose decimal mark is the comma), a tab, or ``,``;
- an optional header naming the columns (``token``/``jeton``, ``amount``/``montant``, ...),
  in any order and among other columns; without one, exactly two columns, token then amount;
- amounts exactly, as ``Decimal``: ``5,50``, ``5.50``, ``1 234,56`` (spaces, no-break spaces
  included, grouping thousands), an optional ``€`` or ``EUR``.

What is refused, with its line number: an amount with both marks (``1.234,56``, ``1,234.56``)
or a repeated one; ``1,234`` or ``1.234`` (thousands, or three decimals?) unless the file's other
amounts show that mark is its decimal mark; a file that mixes decimal marks; a token that is a
number, an e-mail or has spaces (a column mix-up).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal

import attrs

import smspartner_async as sp

__all__ = ["CSVError", "Row", "TransferFile", "parse_transfers", "read_transfers"]

TOKEN_NAMES = frozenset({"token", "jeton", "tokensubaccount", "tokensouscompte", "souscompte"})
AMOUNT_NAMES = frozenset({"amount", "montant", "credit", "somme", "euros", "eur", "montanteur"})
_SPACES = "\u0020\u00a0\u202f"
_GROUPED = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")


class CSVError(Exception):
    """A file that cannot be read as a list of transfers; the message names the line."""


@attrs.frozen
class Row:
    """One transfer of the file: its line, token and exact amount."""

    line: int
    token: str
    amount: Decimal


@attrs.frozen
class TransferFile:
    """The checked transfers of a file, and how the file was read."""

    name: str
    rows: list[Row]
    encoding: str
    separator: str
    decimal_mark: str | None

    @property
    def total(self) -> Decimal:
        """The sum of every amount."""
        return sum((row.amount for row in self.rows), Decimal(0))

    def repeated(self) -> dict[str, list[int]]:
        """Tokens that appear on more than one line, with those lines."""
        lines: dict[str, list[int]] = {}
        for row in self.rows:
            lines.setdefault(row.token, []).append(row.line)
        return {token: found for token, found in lines.items() if len(found) > 1}

    def items(self) -> list[tuple[str, Decimal]]:
        """``(token, amount)`` pairs in file order, for the bulk call."""
        return [(row.token, row.amount) for row in self.rows]


def read_transfers(path: str, stdin: io.TextIOBase | None = None) -> TransferFile:
    """Read and check ``path`` (``-``: ``stdin``) whole; CSVError names the first bad line."""
    name = "stdin" if path == "-" else path
    if path == "-":
        assert stdin is not None
        return parse_transfers(name, stdin.read(), encoding="text")
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise CSVError(f"cannot read {name}: {exc.strerror or exc}") from None
    text, encoding = _decode(data)
    return parse_transfers(name, text, encoding=encoding)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "strict"), "utf-8 (BOM)"
    try:
        return data.decode("utf-8", "strict"), "utf-8"
    except UnicodeDecodeError:
        # Windows-1252 maps every byte but five; those five mean the file is neither.
        try:
            return data.decode("cp1252", "strict"), "windows-1252"
        except UnicodeDecodeError:
            raise CSVError("is neither UTF-8 nor Windows-1252 text") from None


def parse_transfers(name: str, text: str, *, encoding: str) -> TransferFile:
    """The transfers of ``text``, a whole CSV file; CSVError names the first bad line."""
    text = text.removeprefix("\ufeff")
    separator = _separator(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            cells = [cell.strip(_SPACES + "\t") for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            records.append((reader.line_num, cells))
    except csv.Error as exc:
        raise CSVError(f"{name} line {reader.line_num}: {exc}") from None
    if not records:
        raise CSVError(f"{name} has no token,amount rows")
    token_col, amount_col = 0, 1
    first_line, first = records[0]
    if _is_header(first):
        token_col, amount_col = _columns(name, first_line, first)
        records = records[1:]
        if not records:
            raise CSVError(f"{name} has a header but no token,amount rows")
    elif len(first) != 2:
        raise CSVError(
            f"{name} line {first_line}: expected token,amount (or a header naming the "
            f"token and amount columns), got {separator.join(first)!r}"
        )
    width = len(first)
    raw: list[tuple[int, str, str]] = []
    for line, cells in records:
        if len(cells) != width:
            raise CSVError(
                f"{name} line {line}: expected {width} columns like line {first_line} "
                f"(token,amount), got {len(cells)}: {separator.join(cells)!r}"
            )
        token, amount = cells[token_col], cells[amount_col]
        _check_token(name, line, token)
        raw.append((line, token, amount))
    mark = _decimal_mark(name, raw)
    rows = [Row(line, token, _amount(name, line, text_, mark)) for line, token, text_ in raw]
    return TransferFile(name, rows, encoding, separator, mark)


def _separator(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        for candidate in (";", "\t", ","):
            if candidate in stripped:
                return candidate
        return ","
    return ","


def _fold(cell: str) -> str:
    """A header cell compared loosely: no accents, case, spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", cell.casefold())
    return "".join(c for c in decomposed if c.isalnum())


def _is_header(cells: Sequence[str]) -> bool:
    folded = {_fold(cell) for cell in cells}
    if folded & (TOKEN_NAMES | AMOUNT_NAMES):
        return True
    # No digit anywhere: a header we do not know, not a transfer (whose amount has digits).
    return not any(c.isdigit() for cell in cells for c in cell)


def _columns(name: str, line: int, cells: Sequence[str]) -> tuple[int, int]:
    folded = [_fold(cell) for cell in cells]
    tokens = [i for i, cell in enumerate(folded) if cell in TOKEN_NAMES]
    amounts = [i for i, cell in enumerate(folded) if cell in AMOUNT_NAMES]
    if len(tokens) != 1 or len(amounts) != 1:
        raise CSVError(
            f"{name} line {line}: the header {cells!r} must name one token column "
            "(token, jeton) and one amount column (amount, montant)"
        )
    return tokens[0], amounts[0]


def _check_token(name: str, line: int, token: str) -> None:
    problem = None
    if not token:
        problem = "is empty"
    elif _NUMBER.fullmatch(_compact(token)):
        problem = "is a number, not a sub-account token (columns swapped?)"
    elif "@" in token:
        problem = "is an e-mail address, not a sub-account token"
    elif not token.isprintable() or any(c in _SPACES for c in token):
        problem = "is not a sub-account token (spaces or control characters)"
    if problem is not None:
        raise CSVError(
            f"{name} line {line}: expected token,amount; the token column's {token!r} {problem}"
        )


def _compact(text: str) -> str:
    """``text`` without grouping spaces and a currency sign; unchanged if spaced otherwise."""
    text = text.strip(_SPACES)
    for suffix in ("€", "EUR", "eur"):
        if text.endswith(suffix):
            text = text.removesuffix(suffix).rstrip(_SPACES)
            break
    if _GROUPED.fullmatch(text):
        return "".join(c for c in text if c not in _SPACES)
    return text


def _decimal_mark(name: str, raw: Sequence[tuple[int, str, str]]) -> str | None:
    """The file's decimal mark, from the amounts that show one unambiguously."""
    seen: dict[str, int] = {}
    for line, _, text in raw:
        amount = _compact(text)
        marks = [c for c in amount if c in ".,"]
        if len(marks) == 1:
            decimals = len(amount) - amount.index(marks[0]) - 1
            if decimals != 3:
                seen.setdefault(marks[0], line)
    if len(seen) == 2:
        raise CSVError(
            f"{name} mixes decimal marks: ',' on line {seen[',']}, '.' on line {seen['.']}; "
            "use one throughout"
        )
    return next(iter(seen), None)


def _amount(name: str, line: int, text: str, mark: str | None) -> Decimal:
    where = f"{name} line {line}"
    amount = _compact(text)
    marks = [c for c in amount if c in ".,"]
    if len(set(marks)) == 2 or len(marks) > 1:
        raise CSVError(
            f"{where}: the amount {text!r} is ambiguous (thousands separators?): "
            "write it with one decimal mark and no grouping, like 1234,56 or 1234.56"
        )
    if marks:
        decimals = len(amount) - amount.index(marks[0]) - 1
        if decimals == 3 and mark != marks[0]:
            raise CSVError(
                f"{where}: the amount {text!r} is ambiguous: {marks[0]!r} may group thousands "
                "or mark three decimals; nothing else in the file says which"
            )
        amount = amount.replace(",", ".")
    try:
        return sp.parse_amount(amount)
    except sp.ValidationError as exc:
        raise CSVError(f"{where}: {exc}") from None
