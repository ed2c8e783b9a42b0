"""``credit bulk`` with its journal, ``credit settle``, and the CSV files operators have.

The CLI runs in-process (``main([...])``) against an emulator served over HTTP from a
background thread, so one emulator's ledger spans every command of a test, as the real API's
would span the runs of a month.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anyio.from_thread
import pytest

from smspartner_async._cli import ExitCode, _topups, main
from smspartner_async._cli._csv import CSVError, parse_transfers, read_transfers
from smspartner_async.testing import Emulator, Fault, served

ADD = "subaccount/credit/add"


# -- the files -----------------------------------------------------------------------------


def _amounts(text: str) -> list[tuple[int, str, Decimal]]:
    parsed = parse_transfers("f.csv", text, encoding="utf-8")
    return [(row.line, row.token, row.amount) for row in parsed.rows]


def test_french_excel_export() -> None:
    text = "\ufeffNom;Token;Montant\r\nDupont;tok1;5,50\r\nMartin;tok2;1 234,5 €\r\n;tok3;7\r\n"
    parsed = parse_transfers("f.csv", text, encoding="utf-8 (BOM)")
    assert parsed.separator == ";"
    assert parsed.decimal_mark == ","
    assert [(r.line, r.token, r.amount) for r in parsed.rows] == [
        (2, "tok1", Decimal("5.50")),
        (3, "tok2", Decimal("1234.5")),
        (4, "tok3", Decimal("7")),
    ]
    assert parsed.total == Decimal("1247.0")


def test_no_break_spaces_group_thousands() -> None:
    assert _amounts("jeton;montant\ntok;1\u202f234,56\u00a0€\n") == [(2, "tok", Decimal("1234.56"))]


def test_english_excel_export() -> None:
    text = 'token,amount\ntok1,5.50\ntok2,"1234.5"\ntok3,0.125\n'
    assert _amounts(text) == [
        (2, "tok1", Decimal("5.50")),
        (3, "tok2", Decimal("1234.5")),
        (4, "tok3", Decimal("0.125")),
    ]


def test_windows_1252_and_utf8_files(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("Crédit;Token\n5,5;tok\n".encode("cp1252"))
    parsed = read_transfers(str(path))
    assert parsed.encoding == "windows-1252"
    assert parsed.items() == [("tok", Decimal("5.5"))]
    path.write_bytes("\ufeffmontant;jeton\n5,5;tok\n".encode())
    assert read_transfers(str(path)).encoding == "utf-8 (BOM)"
    path.write_bytes(b"tok;5\n\x81\x8d\x8f\x90\x9d\n")
    with pytest.raises(CSVError, match="neither UTF-8 nor Windows-1252"):
        read_transfers(str(path))
    with pytest.raises(CSVError, match="cannot read"):
        read_transfers(str(tmp_path / "missing.csv"))


def test_three_decimals_are_read_once_the_file_shows_its_mark() -> None:
    # 1,234 alone could be 1234 or 1.234; beside 5,5 the comma is this file's decimal mark.
    assert _amounts("tok;5,5\ntok;1,234\n")[1][2] == Decimal("1.234")
    assert _amounts("tok,5.5\ntok,1.234\n")[1][2] == Decimal("1.234")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tok;1.234,56\n", "line 1: the amount '1.234,56' is ambiguous"),
        ('tok,"1,234.56"\n', "line 1: the amount '1,234.56' is ambiguous"),
        ("tok;1.234.567\n", "line 1: the amount '1.234.567' is ambiguous"),
        ("tok;1,234\n", "line 1: the amount '1,234' is ambiguous: ',' may group thousands"),
        ("tok;5,5\ntok;1.234\n", "line 2: the amount '1.234' is ambiguous"),
        ("tok;5,5\ntok;2.5\n", "mixes decimal marks: ',' on line 1, '.' on line 2"),
        ("token;amount\n12,5;tok\n", "line 2: expected token,amount; the token column's '12,5'"),
        ("token;amount\njo@x.fr;5\n", "line 2: expected token,amount; the token column's 'jo@"),
        ("token;amount\nto k;5\n", "is not a sub-account token"),
        ("nom;prénom\nx;y\n", "line 1: the header"),
        ("token;amount\n", "has a header but no token,amount rows"),
        ("token;amount;x\ntok;1\n", "line 2: expected 3 columns like line 1"),
        ("tok;1;2\n", "line 1: expected token,amount"),
        ('tok;"5\n', "line 1: unexpected end of data"),
    ],
)
def test_ambiguous_or_broken_files_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(CSVError, match=None) as caught:
        parse_transfers("f.csv", text, encoding="utf-8")
    assert message in str(caught.value)


def test_repeated_tokens_are_listed_with_their_lines() -> None:
    parsed = parse_transfers("f.csv", "a;1\nb;2\n# note\na;3\n", encoding="utf-8")
    assert parsed.repeated() == {"a": [1, 4]}


# -- the commands, against a served emulator -------------------------------------------------


@pytest.fixture
def served_emulator() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(main_balance="1000")
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(served(emulator, port=0)) as base_url,
    ):
        yield emulator, base_url


class CLI:
    """``main`` with the served emulator's URL and key, and what it printed."""

    def __init__(self, base_url: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.base = ["--base-url", base_url, "--api-key", key, "--timeout", "2"]
        self.capsys = capsys
        self.out = ""
        self.err = ""

    def __call__(self, *args: str) -> int:
        code = main([*self.base, *args])
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def json(self) -> dict[str, object]:
        value: dict[str, object] = json.loads(self.out)
        return value


@pytest.fixture
def cli(served_emulator: tuple[Emulator, str], capsys: pytest.CaptureFixture[str]) -> CLI:
    emulator, base_url = served_emulator
    return CLI(base_url, emulator.api_key, capsys)


def _paid(emulator: Emulator) -> Counter[tuple[str, Decimal]]:
    return Counter((t.token, t.amount) for t in emulator.transfers if t.operation == ADD)


def test_crash_resume_settle_and_next_month(
    served_emulator: tuple[Emulator, str], cli: CLI, tmp_path: Path
) -> None:
    emulator, _ = served_emulator
    a, b, c = emulator.seed_subaccounts(3, balance=10)
    csv = tmp_path / "novembre.csv"
    csv.write_text(f"token;montant\n{a};5,50\n{b};2\n{c};1\n", encoding="utf-8")
    journal = tmp_path / "novembre.csv.journal"

    emulator.inject(Fault.apply_then_drop(), endpoint=ADD)  # a: applied, the answer lost
    assert cli("credit", "bulk", str(csv), "--concurrency", "1") == ExitCode.UNKNOWN
    assert "credit settle" in cli.out
    assert journal.exists()

    # Rerun: it finds the unfinished run, says what it holds, and never guesses.
    assert cli("credit", "bulk", str(csv)) == ExitCode.USAGE
    assert "found an unfinished run" in cli.err
    assert "2 applied (3.000 EUR), 0 to send, 1 to settle" in cli.err
    assert "--resume" in cli.err

    assert cli("--json", "credit", "settle", str(csv)) == ExitCode.OK
    settled = cli.json()
    [item] = settled["items"]  # type: ignore[misc]
    assert (item["line"], item["verdict"], item["decided_by"]) == (2, "landed", "evidence")
    assert any("brought at least 5.5" in line for line in item["evidence"])
    assert settled["finished"] is True

    # Finished: a resume has nothing to send; the same command again is refused.
    assert cli("credit", "bulk", str(csv), "--resume") == ExitCode.OK
    assert "nothing to send" in cli.out
    assert cli("--json", "credit", "bulk", str(csv), "--resume") == ExitCode.OK
    assert cli.json()["finished"] is True
    assert cli("credit", "bulk", str(csv)) == ExitCode.USAGE
    assert "already run" in cli.err
    assert "--new-run" in cli.err
    assert _paid(emulator) == Counter({(a, Decimal("5.5")): 1, (b, 2): 1, (c, 1): 1})

    # Next month, same file: a new run, the old journal kept.
    assert cli("--json", "credit", "bulk", str(csv), "--new-run") == ExitCode.OK
    assert cli.json()["resumed"] is False
    assert len(list(tmp_path.glob("novembre.csv.journal.*"))) == 1
    assert _paid(emulator) == Counter({(a, Decimal("5.5")): 2, (b, 2): 2, (c, 1): 2})


def test_resume_sends_only_what_is_left(
    served_emulator: tuple[Emulator, str], cli: CLI, tmp_path: Path
) -> None:
    emulator, _ = served_emulator
    a, b = emulator.seed_subaccounts(2)
    csv = tmp_path / "t.csv"
    csv.write_text(f"{a},1\n{b},2\n", encoding="utf-8")
    emulator.inject(Fault.status(429, retry_after=0), endpoint=ADD, times=4)  # a: 4 refusals
    assert cli("credit", "bulk", str(csv), "--concurrency", "1") == ExitCode.REFUSED
    assert cli("--json", "credit", "bulk", str(csv), "--resume") == ExitCode.OK
    report = cli.json()
    assert report["resumed"] is True
    results: list[dict[str, object]] = report["results"]  # type: ignore[assignment]
    assert [(r["line"], r["from_journal"]) for r in results] == [(1, False), (2, True)]
    assert _paid(emulator) == Counter({(a, 1): 1, (b, 2): 1})


def test_settle_records_a_person_s_decision_and_resume_sends_it(
    served_emulator: tuple[Emulator, str], cli: CLI, tmp_path: Path
) -> None:
    emulator, _ = served_emulator
    [a] = emulator.seed_subaccounts(1)
    csv = tmp_path / "t.csv"
    csv.write_text(f"{a};5\n{a};5\n", encoding="utf-8")
    emulator.inject(Fault.apply_then_drop(), endpoint=ADD)
    emulator.inject(Fault.status(503), endpoint=ADD)
    assert cli("credit", "bulk", str(csv), "--concurrency", "1") == ExitCode.UNKNOWN
    assert cli("credit", "settle", str(csv), "--check") == ExitCode.UNKNOWN
    assert "waiting for a person" in cli.out
    assert cli("credit", "settle", str(csv), "--landed", "9") == ExitCode.USAGE
    assert "no transfer on line 9" in cli.err
    assert cli("credit", "settle", str(csv), "--check", "--landed", "1") == ExitCode.USAGE
    assert cli("credit", "settle", str(csv), "--landed", "1", "--not-landed", "2") == 0
    assert "[person]" in cli.out
    assert "1 to send" in cli.out
    assert cli("credit", "settle", str(csv), "--landed", "1") == ExitCode.USAGE
    assert "not waiting for a decision" in cli.err
    assert cli("credit", "bulk", str(csv), "--resume") == ExitCode.OK
    assert emulator.balance(a) == 10
    assert cli("credit", "settle", str(csv)) == ExitCode.OK
    assert "nothing to settle" in cli.out


def test_dry_run_checks_and_shows_but_sends_nothing(
    served_emulator: tuple[Emulator, str], cli: CLI, tmp_path: Path
) -> None:
    emulator, _ = served_emulator
    a, b = emulator.seed_subaccounts(2)
    csv = tmp_path / "t.csv"
    csv.write_text(f"token;montant\n{a};600\n{b};300,5\n{a};200\n", encoding="utf-8")
    assert cli("credit", "bulk", str(csv), "--dry-run") == ExitCode.OK
    assert "transfers        3" in cli.out
    assert "1,100.500 EUR" in cli.out
    assert f"{a} (lines 2, 4)" in cli.out
    assert "DOES NOT cover it" in cli.out  # 1000 in the main account
    assert cli("--json", "credit", "bulk", str(csv), "--dry-run") == ExitCode.OK
    preview = cli.json()
    assert (preview["dry_run"], preview["items"], preview["total"]) == (True, 3, "1100.500")
    assert preview["repeated_tokens"] == {a: [2, 4]}
    assert preview["covered"] is False
    assert [r.endpoint for r in emulator.requests] == ["me", "me"]
    assert not (tmp_path / "t.csv.journal").exists()


def test_on_a_terminal_it_asks_and_a_no_sends_nothing(
    served_emulator: tuple[Emulator, str],
    cli: CLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, _ = served_emulator
    [a] = emulator.seed_subaccounts(1)
    csv = tmp_path / "t.csv"
    csv.write_text(f"{a},1\n", encoding="utf-8")
    answers = iter(["n", "y", "y", "n"])
    asked: list[str] = []

    async def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr(_topups, "interactive", lambda: True)
    monkeypatch.setattr(_topups, "ask", ask)
    assert cli("credit", "bulk", str(csv)) == ExitCode.OK
    assert "nothing sent" in cli.out
    assert asked == ["Move 1.000 EUR in 1 transfers? [y/N] "]
    assert _paid(emulator) == Counter()
    assert cli("credit", "bulk", str(csv)) == ExitCode.OK  # "y": sent
    assert _paid(emulator) == Counter({(a, 1): 1})
    assert cli("credit", "bulk", str(csv), "--yes", "--new-run") == ExitCode.OK
    assert len(asked) == 2  # --yes: no question


def test_a_new_run_is_refused_while_the_previous_one_has_items_to_settle(
    served_emulator: tuple[Emulator, str], cli: CLI, tmp_path: Path
) -> None:
    emulator, _ = served_emulator
    [a] = emulator.seed_subaccounts(1)
    csv = tmp_path / "t.csv"
    csv.write_text(f"{a},1\n", encoding="utf-8")
    emulator.inject(Fault.apply_then_drop(), endpoint=ADD)
    assert cli("credit", "bulk", str(csv)) == ExitCode.UNKNOWN
    assert cli("credit", "bulk", str(csv), "--new-run") == ExitCode.USAGE
    assert "settle them first" in cli.err
    assert cli("credit", "bulk", str(csv), "--resume", "--new-run") == ExitCode.USAGE


def test_journal_flags_and_stdin(
    served_emulator: tuple[Emulator, str],
    cli: CLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, _ = served_emulator
    [a] = emulator.seed_subaccounts(1)
    csv = tmp_path / "t.csv"
    csv.write_text(f"{a},1\n", encoding="utf-8")
    elsewhere = tmp_path / "journals" / "run.db"
    elsewhere.parent.mkdir()
    assert cli("credit", "bulk", str(csv), "--journal", str(elsewhere)) == ExitCode.OK
    assert elsewhere.exists()
    assert not (tmp_path / "t.csv.journal").exists()
    assert cli("credit", "bulk", str(csv), "--no-journal") == ExitCode.OK
    assert not (tmp_path / "t.csv.journal").exists()
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(f"{a};2,5\n"))
    assert cli("credit", "bulk", "-") == ExitCode.OK
    assert cli("credit", "settle", "-") == ExitCode.USAGE
    assert "pass --journal" in cli.err
    assert cli("credit", "settle", str(csv)) == ExitCode.USAGE
    assert "holds no run" in cli.err
    assert _paid(emulator) == Counter({(a, 1): 2, (a, Decimal("2.5")): 1})
