"""The ``smspartner-async`` command line, end to end.

Subprocess tests run ``python -m smspartner_async`` as a user would: exit codes, output,
no tracebacks, the key never shown. In-process tests call ``main([...])`` for speed and for
the paths a subprocess cannot set up (a scripted fault, Ctrl-C, a missing extra).
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import pytest
from _support import CANARY  # the canary key: it must never appear in anything the CLI prints

from smspartner_async._cli import ExitCode, _commands, _sandbox, _topups, main
from smspartner_async._cli._app import CLIError
from smspartner_async.testing import Emulator, Fault, served

ENV = "SMSPARTNER_API_KEY"
#: The emulator's key in a fresh interpreter. Read at import: during a test, the canary
#: fixture (conftest.py) points this process's default at the canary key instead.
SERVED_KEY = Emulator.DEFAULT_API_KEY


def run_cli(
    *args: str, key: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter, with ``SMSPARTNER_API_KEY`` set only to ``key``."""
    env = {name: value for name, value in os.environ.items() if name != ENV}
    if key is not None:
        env[ENV] = key
    return subprocess.run(
        [sys.executable, "-m", "smspartner_async", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed run; no traceback."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("smspartner-async")
    return lines[0]


@pytest.fixture(scope="module")
def sandbox_subaccounts() -> list[dict[str, Any]]:
    """The sandbox's sub-accounts: seeded the same way in every run."""
    result = run_cli("--sandbox", "--api-key", CANARY, "subaccounts", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


# -- subprocess: the CLI as people and scripts run it ----------------------------------------


def test_demo_runs_offline_and_reconciles() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for page in ("page 1/3", "page 2/3", "page 3/3"):
        assert page in out
    assert "retried after HTTP 503 on subaccount/list" in out
    assert "retried after HTTP 429 on subaccount/credit/add" in out
    assert re.search(r"unknown\s+2\s", out)
    assert re.search(r"timed out\s+applied", out)
    assert re.search(r"HTTP 503\s+NOT applied", out)
    assert "OK: nothing created or lost" in out
    assert out.count("  OK\n") == 2  # balances after - before, and the emulator's ledger
    assert "every euro accounted for" in out
    assert "6. A crash and a resume" in out
    assert "to settle" in out
    assert "each exactly once per the ledger" in out
    assert "\r" not in out + result.stderr  # piped: no progress bar
    assert result.stderr == ""


def test_sandbox_list_json_has_string_balances(sandbox_subaccounts: list[dict[str, Any]]) -> None:
    assert len(sandbox_subaccounts) == _sandbox.SANDBOX_SUBACCOUNTS
    assert len({row["token"] for row in sandbox_subaccounts}) == len(sandbox_subaccounts)
    for row in sandbox_subaccounts:
        assert isinstance(row["balance"], str)
        assert re.fullmatch(r"\d+\.\d{3}", row["balance"])
        assert row["currency"] == "EUR"
        assert "api_key" not in row  # a sub-account's own key is never printed
    assert any(Decimal(row["balance"]) > 0 for row in sandbox_subaccounts)


def test_sandbox_credit_add_and_remove(sandbox_subaccounts: list[dict[str, Any]]) -> None:
    funded = next(row for row in sandbox_subaccounts if Decimal(row["balance"]) >= 10)
    token, balance = funded["token"], Decimal(funded["balance"])

    added = run_cli("--sandbox", "--json", "credit", "add", token, "12.5", key=CANARY)
    assert added.returncode == 0, added.stderr
    assert CANARY not in added.stdout + added.stderr
    answer = json.loads(added.stdout)
    assert answer["subaccount_balance"] == str(
        (balance + Decimal("12.5")).quantize(Decimal("0.001"))
    )
    assert (answer["amount"], answer["direction"]) == ("12.500", "to_subaccount")
    assert isinstance(answer["account_balance"], str)

    removed = run_cli("--sandbox", "credit", "remove", token, "2.25")
    assert removed.returncode == 0, removed.stderr
    assert f"moved 2.250 EUR from sub-account {token} to the main account" in removed.stdout
    assert f"{balance - Decimal('2.25'):,.3f} EUR" in removed.stdout


def test_missing_key_is_one_line_naming_the_variable() -> None:
    result = run_cli("account")
    assert result.returncode == ExitCode.USAGE
    assert ENV in one_error_line(result)
    assert result.stdout == ""


def test_api_refusal_is_one_line_and_exit_1() -> None:
    result = run_cli("--sandbox", "--api-key", CANARY, "credit", "add", "no-such-token", "5")
    assert result.returncode == ExitCode.REFUSED
    line = one_error_line(result)
    assert CANARY not in line
    assert "refused by the API" in line
    assert "does not exist" in line


def _rows(emulator: Emulator) -> dict[str, Decimal]:
    return {sub.token: sub.balance for sub in emulator.subaccounts}


def test_bulk_against_a_served_emulator(tmp_path: Path) -> None:
    emulator = Emulator()
    tokens = emulator.seed_subaccounts(3, balance=10)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"token,amount\n{tokens[0]},5\n{tokens[1]},abc\n{tokens[2]},1\n")
    good = f"{tokens[0]},5\n{tokens[1]},2.5\n\n# a comment\n{tokens[2]},0.125\n"

    # A sync test: the CLI under test is a subprocess, the event loop only serves the emulator.
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(served(emulator, port=0)) as base_url,
    ):
        cli = partial(run_cli, "--base-url", base_url, key=emulator.api_key)
        refused = cli("credit", "bulk", str(bad))
        assert refused.returncode == ExitCode.USAGE
        assert "line 3" in one_error_line(refused)
        assert emulator.requests == []  # a bad row refuses the whole file

        done = cli("credit", "bulk", "-", stdin=good)
        assert done.returncode == ExitCode.OK, done.stderr
        assert "3 items: 3 applied" in done.stdout
    assert _rows(emulator) == {
        tokens[0]: Decimal("15"),
        tokens[1]: Decimal("12.5"),
        tokens[2]: Decimal("10.125"),
    }


def _lines(stream: IO[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The lines of a pipe, read by a daemon thread, so waits on them can be bounded."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return lines, reader


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_emulator_subcommand_serves_until_ctrl_c() -> None:
    env = {name: value for name, value in os.environ.items() if name != ENV}
    command = [sys.executable, "-m", "smspartner_async", "emulator", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--seed-subaccounts", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    stdout, reader = _lines(proc.stdout)
    try:
        first = stdout.get(timeout=20)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/v1/)", first)
        assert match, first
        key_line = stdout.get(timeout=5)
        assert key_line.strip() == f"API key: {SERVED_KEY}"

        answer = httpx.get(match.group(1) + "subaccount/list", params={"apiKey": SERVED_KEY})
        assert answer.json()["total"] == 3

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == ExitCode.INTERRUPTED
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        assert stderr.strip() == "smspartner-async: emulator stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)
        reader.join(timeout=5)  # the pipe is at its end once the process is gone
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


# -- in-process: main([...]) -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)


class Sandboxes:
    """The emulators ``--sandbox`` created during a test, and faults for the next one."""

    def __init__(self) -> None:
        self.made: list[Emulator] = []
        self._faults: list[tuple[Fault, str]] = []

    def script(self, fault: Fault, endpoint: str) -> None:
        """Inject ``fault`` into the next sandbox emulator only."""
        self._faults.append((fault, endpoint))

    def prepare(self, emulator: Emulator) -> Emulator:
        """Script the queued faults into a new sandbox emulator and remember it."""
        for fault, endpoint in self._faults:
            emulator.inject(fault, endpoint=endpoint)
        self._faults.clear()
        self.made.append(emulator)
        return emulator


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Sandboxes:
    box = Sandboxes()
    original = _sandbox.seeded_emulator

    def seeded(subaccounts: int, **kwargs: Any) -> Emulator:
        return box.prepare(original(subaccounts, **kwargs))

    monkeypatch.setattr(_sandbox, "seeded_emulator", seeded)
    return box


#: The first sandbox sub-account: seeding is deterministic, so every sandbox has it.
TOKEN = _sandbox.seeded_emulator(1).subaccounts[0].token


def test_main_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["balanced"] is True
    assert figures["total"] == figures["start_total"]
    assert (figures["bulk_applied"], figures["bulk_unknown"]) == (198, 2)
    moved = Decimal(figures["bulk_applied_amount"]) + Decimal(figures["bulk_unknown_landed"])
    assert Decimal(figures["bulk_moved"]) == moved
    crash = figures["crash_resume"]
    assert (crash["finished"], crash["exactly_once"]) == (True, True)
    assert sum(crash["settled"].values()) >= 2  # at least the two applied, then stalled


def test_main_help_documents_exit_codes_and_key_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV, CANARY)
    assert main(["--help"]) == 0
    assert main(["credit", "bulk", "--help"]) == 0
    out = capsys.readouterr().out
    assert CANARY not in out
    assert "exit codes:" in out
    assert "(default: $SMSPARTNER_API_KEY)" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"\n  {code}" in out


def test_main_emulator_help_lists_only_its_own_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--port" in out
    assert "--seed-subaccounts" in out
    for option in ("--api-key", "--base-url", "--sandbox", "--json", "--timeout", "global options"):
        assert option not in out
    assert main(["emulator", "--json"]) == ExitCode.USAGE
    assert "unrecognized arguments: --json" in capsys.readouterr().err


def test_main_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sandbox", "subaccounts", "list", "--prefetch", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["id", "token", "type", "email", "balance", "created"]
    assert f"{_sandbox.SANDBOX_SUBACCOUNTS} sub-accounts holding" in out
    assert " EUR  " in out


#: A list page whose row lacks the fields real answers may drop (email, apiKey, createdAt).
_DRIFTING_PAGE = {
    "success": True,
    "code": 200,
    "total": 1,
    "nb_per_page": 20,
    "page": 1,
    "data": [
        {
            "id": 7,
            "email": None,
            "type": "simple",
            "token": "tok7",
            "credits": {"balance": "1.500", "currency": "EUR"},
        }
    ],
}


def test_main_list_copes_with_rows_that_drift(
    sandbox: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    page = json.dumps(_DRIFTING_PAGE)
    sandbox.script(Fault.reply(page), "subaccount/list")
    assert main(["--sandbox", "subaccounts", "list"]) == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row == ["7", "tok7", "simple", "-", "1.500", "EUR", "-"]
    sandbox.script(Fault.reply(page), "subaccount/list")
    assert main(["--sandbox", "--json", "subaccounts", "list"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["email"], listed["created_at"]) == (None, None)


def test_main_routing_miss_is_not_called_a_refusal(
    sandbox: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.script(Fault.reply("<html>Not Found</html>", status_code=404), "me")
    assert main(["--sandbox", "account"]) == ExitCode.REFUSED
    err = capsys.readouterr().err
    assert "no such route on the server" in err
    assert "RouteNotFoundError" in err


def test_main_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sandbox", "account"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"balance\s+10,000\.000 EUR", out)
    assert main(["--sandbox", "--json", "account"]) == 0
    assert json.loads(capsys.readouterr().out)["balance"] == "10000.000"


def test_main_create_and_delete(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--sandbox", "subaccounts", "create", "advanced", "--email", "a@example.com"]
    assert main([*args, "--no-buyer", "--credit", "10", "--firstname", "Ada"]) == 0
    assert "created advanced sub-account a@example.com" in capsys.readouterr().out
    assert main([*args, "--json"]) == ExitCode.USAGE  # advanced needs --buyer/--no-buyer
    err = capsys.readouterr().err
    assert "--buyer or --no-buyer" in err
    assert main(["--sandbox", "--json", "subaccounts", "create", "simple"]) == 0
    assert json.loads(capsys.readouterr().out)["email"].endswith("@smspartner.fr")

    assert main(["--sandbox", "subaccounts", "delete", TOKEN]) == 0
    assert "deleted sub-account" in capsys.readouterr().out
    assert main(["--sandbox", "--json", "subaccounts", "delete", "gone"]) == ExitCode.REFUSED
    assert "NotFoundError" in capsys.readouterr().err


def test_main_credit_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    token = TOKEN
    assert main(["--sandbox", "credit", "add", token, "1000"]) == 0
    out = capsys.readouterr().out
    assert f"moved 1,000.000 EUR to {token}" in out
    assert re.search(r"main balance\s+9,000\.000 EUR", out)
    assert main(["--sandbox", "credit", "add", token, "1.0001"]) == ExitCode.USAGE
    assert "invalid input: amount has more than 3 decimal places" in capsys.readouterr().err


def test_main_outcome_unknown_exits_4(
    sandbox: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.script(Fault.apply_then_drop(), "subaccount/credit/add")
    token = TOKEN
    assert main(["--sandbox", "credit", "add", token, "5"]) == ExitCode.UNKNOWN
    assert "outcome unknown" in capsys.readouterr().err
    [emulator] = sandbox.made
    assert emulator.balance(token) > 0  # it was applied, though the client cannot know


def _csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "transfers.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_main_bulk_outcomes(
    sandbox: Sandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = TOKEN
    ok = _csv(tmp_path, f"TOKEN, Amount\n{token},5\n{token},2.5\n")
    # Each --sandbox call is a fresh emulator: no journal, which would refuse a second run.
    assert main(["--sandbox", "credit", "bulk", ok, "--concurrency", "2", "--no-journal"]) == 0
    assert "2 items: 2 applied" in capsys.readouterr().out

    mixed = _csv(tmp_path, f"{token},5\nno-such-token,1\n")
    assert main(["--sandbox", "--json", "credit", "bulk", mixed, "--no-journal"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["applied"], report["failed"]) == (False, 1, 1)
    assert [r["amount"] for r in report["results"]] == ["5.000", "1.000"]

    sandbox.script(Fault.apply_then_drop(), "subaccount/credit/add")
    assert main(["--sandbox", "credit", "bulk", ok, "--no-journal"]) == ExitCode.UNKNOWN
    assert "1 unknown" in capsys.readouterr().out

    assert main(["--sandbox", "credit", "bulk", ok, "--remove", "--no-journal"]) == 1
    assert len(sandbox.made) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no token,amount rows"),
        ("tok,1,extra\n", "line 1: expected token,amount"),
        (",1\n", "line 1: expected token,amount"),
        ("tok,-1\n", "line 1: amount must be greater than 0, got '-1'"),
        ("tok,1\ntok,NaN\n", "line 2: amount must be written as plain digits"),
        ("tok,0.0001\n", "line 1: amount has more than 3 decimal places: '0.0001'"),
    ],
)
def test_main_bulk_refuses_bad_files(
    sandbox: Sandboxes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    assert main(["--sandbox", "credit", "bulk", _csv(tmp_path, text)]) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert sandbox.made == []  # refused before a client existed


def test_main_bulk_reads_stdin_and_reports_missing_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_topups, "fancy_terminal", lambda: True)  # draws to a non-tty: nothing
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{TOKEN},1\n"))
    assert main(["--sandbox", "credit", "bulk", "-"]) == 0
    assert "1 item: 1 applied" in capsys.readouterr().out
    assert main(["--sandbox", "credit", "bulk", str(tmp_path / "nope.csv")]) == ExitCode.USAGE
    assert "cannot read" in capsys.readouterr().err


def test_main_network_error_exits_3(no_backoff: None, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--api-key", CANARY, "--base-url", "https://127.0.0.1:1/v1/", "account"]
    assert main(args) == ExitCode.NETWORK
    err = capsys.readouterr().err
    assert err.startswith("smspartner-async: network error:")
    assert CANARY not in err


def test_main_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sandbox", "--base-url", "https://x.test/", "account"]) == ExitCode.USAGE
    assert "exclude each other" in capsys.readouterr().err
    assert main(["--base-url", "http://example.com/", "--api-key", CANARY, "account"]) == 2
    assert "https://" in capsys.readouterr().err
    assert main(["--timeout", "0", "account"]) == ExitCode.USAGE
    assert main(["credit", "bulk", "x.csv", "--concurrency", "0"]) == ExitCode.USAGE
    assert main([]) == ExitCode.USAGE
    assert main(["--version"]) == 0
    out, err = capsys.readouterr()
    assert "smspartner-async" in out
    assert all(line.endswith("--help)") for line in err.splitlines())


async def _interrupt(_: object) -> int:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("command", "args", "line"),
    [
        ("account", ["account"], "interrupted"),
        ("add_credit", ["credit", "add", "t", "1"], "transfers already sent may have been"),
    ],
)
def test_main_ctrl_c_exits_130(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    args: list[str],
    line: str,
) -> None:
    monkeypatch.setattr(_commands, command, _interrupt)
    assert main(["--sandbox", *args]) == ExitCode.INTERRUPTED
    err = capsys.readouterr().err
    assert line in err
    assert len(err.splitlines()) == 1


def test_main_unwraps_exception_groups(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def grouped(_: object) -> int:
        raise ExceptionGroup("from a task group", [CLIError("the one problem")])

    async def interrupted(_: object) -> int:
        raise BaseExceptionGroup("from a task group", [KeyboardInterrupt()])

    monkeypatch.setattr(_commands, "account", grouped)
    assert main(["--sandbox", "account"]) == ExitCode.USAGE
    assert capsys.readouterr().err == "smspartner-async: error: the one problem\n"
    monkeypatch.setattr(_commands, "account", interrupted)
    assert main(["--sandbox", "account"]) == ExitCode.INTERRUPTED


def test_main_emulator_without_uvicorn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` fail
    assert main(["emulator"]) == ExitCode.USAGE
    assert "smspartner-async[emulator]" in capsys.readouterr().err


def test_main_emulator_port_taken(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == ExitCode.USAGE
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_bugs_keep_their_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    async def bug(_: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(_commands, "account", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--sandbox", "account"])


# -- server text on the terminal ----------------------------------------------------------------

#: Clear the screen, set the window title, hide what follows, and a right-to-left override.
HOSTILE = "x\x1b[2J\x1b]0;owned\x07\x1b[8m\u202ey\r\nz"
#: How it is shown (an error line turns the line break into a space).
SHOWN = "x\\x1b[2J\\x1b]0;owned\\x07\\x1b[8m\\u202ey"


def _hostile_answers(sandbox: Sandboxes) -> None:
    row = {
        "id": 7,
        "email": HOSTILE,
        "type": HOSTILE,
        "token": HOSTILE,
        "apiKey": "k",
        "createdAt": "2016-03-04 11:23:14",
        "credits": {"balance": "1.500", "currency": HOSTILE},
    }
    page = {"success": True, "code": 200, "total": 1, "nb_per_page": 20, "page": 1, "data": [row]}
    me = {
        "success": True,
        "code": 200,
        "user": {"username": HOSTILE, "firstname": HOSTILE, "lastname": HOSTILE},
        "credits": {"balance": "5.000", "currency": HOSTILE},
    }
    created = {
        "success": True,
        "code": 200,
        "subaccount": {"email": HOSTILE, "token": HOSTILE},
        "sendConfirmMailTo": HOSTILE,
    }
    moved = {"success": True, "code": 200, "credit": 1, "subaccountCredit": 2, "currency": HOSTILE}
    sandbox.script(Fault.reply(json.dumps(page)), "subaccount/list")
    sandbox.script(Fault.reply(json.dumps(me)), "me")
    sandbox.script(Fault.reply(json.dumps(created)), "subaccount/create")
    sandbox.script(Fault.reply(json.dumps(moved)), "subaccount/credit/add")
    refusal = {"success": False, "code": 10, "message": HOSTILE}
    sandbox.script(Fault.reply(json.dumps(refusal)), "subaccount/credit/remove")


@pytest.mark.parametrize(
    "command",
    [
        ["subaccounts", "list"],
        ["account"],
        ["subaccounts", "create", "simple"],
        ["credit", "add", TOKEN, "1"],
        ["credit", "remove", TOKEN, "1"],
    ],
    ids=["list", "account", "create", "credit", "refusal"],
)
def test_server_text_reaches_the_terminal_escaped(
    sandbox: Sandboxes, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    _hostile_answers(sandbox)
    main(["--sandbox", *command])
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert SHOWN in printed
    assert "\x1b" not in printed
    assert "\u202e" not in printed
    assert "\r" not in printed


def test_json_output_keeps_server_text_exact(
    sandbox: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    _hostile_answers(sandbox)
    assert main(["--sandbox", "--json", "subaccounts", "list"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["email"] == listed["token"] == listed["currency"] == HOSTILE
