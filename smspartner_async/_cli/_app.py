"""The argument parser, the exit codes, and the one place an error becomes one line."""

from __future__ import annotations

import argparse
import contextlib
import enum
import importlib
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, cast

import anyio
import attrs

import smspartner_async as sp
from smspartner_async._cli._output import shown

__all__ = ["API_KEY_ENV", "CLIError", "Context", "ExitCode", "main"]

API_KEY_ENV = "SMSPARTNER_API_KEY"
PROG = "smspartner-async"


class ExitCode(enum.IntEnum):
    """What the process exit status means; documented in ``--help``."""

    OK = 0
    REFUSED = 1
    USAGE = 2
    NETWORK = 3
    UNKNOWN = 4
    INTERRUPTED = 130
    PIPE_CLOSED = 141  # 128 + SIGPIPE, as a shell reports a program killed by it


EPILOG = f"""\
exit codes:
  0    success
  1    the API refused the request (bad key, unknown sub-account, not enough credit, ...),
       or some items of a bulk run failed
  2    bad usage or input, or no API key: nothing was sent
  3    the API could not be reached, or answered something unreadable: nothing was changed
  4    outcome unknown: a money-moving request may have been applied; check the balances
  130  interrupted (Ctrl-C)

The API key comes from --api-key or ${API_KEY_ENV}; it is never printed.

examples:
  {PROG} demo                                  the guided tour: no network, no key
  {PROG} --sandbox subaccounts list            a pre-seeded in-memory account
  {PROG} credit add TOKEN 25                   move 25 EUR to a sub-account
  {PROG} credit bulk top-ups.csv               journaled in top-ups.csv.journal
  {PROG} credit bulk top-ups.csv --resume      after a crash: send only what is left
  {PROG} credit settle top-ups.csv             decide transfers whose outcome is unknown
"""


class CLIError(Exception):
    """A problem the CLI itself found (bad CSV, missing key, ...): one line and an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


@attrs.frozen
class Context:
    """The global options, resolved, plus the subcommand's own arguments."""

    api_key: str | None = attrs.field(repr=False)  # a traceback's locals show the context
    base_url: str | None
    sandbox: bool
    json: bool
    timeout: float
    args: argparse.Namespace

    def client(self) -> sp.AsyncSMSPartner:
        """A client for the real API, or for a fresh sandbox emulator with ``--sandbox``."""
        if self.sandbox:
            # Imported only when wanted: the emulator is not needed to talk to the real API.
            from smspartner_async._cli._sandbox import (  # noqa: PLC0415
                SANDBOX_SUBACCOUNTS,
                seeded_emulator,
            )

            emulator = seeded_emulator(SANDBOX_SUBACCOUNTS, api_key=self.api_key)
            return emulator.client(timeout=self.timeout)
        if not self.api_key:
            raise CLIError(f"no API key: set {API_KEY_ENV} or pass --api-key (or try --sandbox)")
        # No --base-url: the client reads $SMSPARTNER_BASE_URL, else the real API.
        return sp.AsyncSMSPartner(
            api_key=self.api_key, base_url=self.base_url, timeout=self.timeout
        )


Handler = Callable[[Context], Awaitable[int]]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV)
    # From here the key lives in the context only, whose repr hides it: the locals of this
    # frame (argv, args, api_key) are in every traceback of a command, and some record them.
    argv = args.api_key = None
    context = Context(
        api_key=api_key or None,
        base_url=args.base_url,
        sandbox=args.sandbox,
        json=args.json,
        timeout=args.timeout,
        args=args,
    )
    del api_key
    if context.sandbox and context.base_url is not None:
        return _fail(f"{PROG}: error: --sandbox and --base-url exclude each other", ExitCode.USAGE)
    handler = _handler(args.handler)
    try:
        return anyio.run(handler, context)
    except BaseException as exc:
        # Task groups may wrap the one error that matters in exception groups.
        leaf = _single(exc)
        if isinstance(leaf, KeyboardInterrupt):
            return _fail(f"{PROG}: {args.interrupted}", ExitCode.INTERRUPTED)
        if isinstance(leaf, BrokenPipeError):
            # The reader left (`| head`): stop quietly, and keep the interpreter's final
            # flush from failing on the same closed pipe.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return ExitCode.PIPE_CLOSED
        outcome = _classify(leaf)
        if outcome is None:
            raise  # a bug: its traceback is what a report needs
        label, code = outcome
        return _fail(_redact(f"{PROG}: {label}: {_one_line(leaf)}", context.api_key), code)


def _handler(name: str) -> Handler:
    """The coroutine behind ``"module:function"``, imported only when its command runs, so
    ``--help`` or ``account`` do not pay for the demo and the emulator."""
    module, _, function = name.partition(":")
    found = getattr(importlib.import_module(f"smspartner_async._cli.{module}"), function)
    return cast("Handler", found)


def _fail(line: str, code: ExitCode) -> int:
    print(shown(line), file=sys.stderr)  # error messages carry the server's text
    return code


def _single(exc: BaseException) -> BaseException:
    """The one error inside (nested) single-member exception groups, else ``exc``."""
    members = _members(exc)
    while len(members) == 1:
        exc = members[0]
        members = _members(exc)
    return exc


def _members(exc: BaseException) -> tuple[BaseException, ...]:
    if isinstance(exc, BaseExceptionGroup):
        return cast("BaseExceptionGroup[BaseException]", exc).exceptions
    return ()


#: Library errors people should see as one line, most specific first.
_LABELS: tuple[tuple[type[sp.SMSPartnerError], str, ExitCode], ...] = (
    (sp.ValidationError, "invalid input", ExitCode.USAGE),
    (sp.OutcomeUnknownError, "outcome unknown", ExitCode.UNKNOWN),
    (
        sp.RouteNotFoundError,
        "no such route on the server (is the base URL right?)",
        ExitCode.REFUSED,
    ),
    (sp.APIError, "refused by the API", ExitCode.REFUSED),
    (sp.APIConnectionError, "network error", ExitCode.NETWORK),
    (sp.DecodeError, "unreadable answer", ExitCode.NETWORK),
    # What is left is configuration, e.g. no API key.
    (sp.SMSPartnerError, "error", ExitCode.USAGE),
)


def _classify(exc: BaseException) -> tuple[str, ExitCode] | None:
    """A label and an exit code for an error shown as one line; None for a bug."""
    if isinstance(exc, CLIError):
        return "error", exc.code
    for cls, label, code in _LABELS:
        if isinstance(exc, cls):
            if isinstance(exc, sp.APIError):  # its message names the endpoint and code
                return f"{label} ({type(exc).__name__})", code
            return label, code
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _redact(line: str, api_key: str | None) -> str:
    # The library never puts the key in a message; this is a second lock on the same door.
    # Very short "keys" are left alone: replacing them would garble the message, not hide much.
    if api_key and len(api_key) >= 6:
        return line.replace(api_key, "***")
    return line


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _seconds(*, allow_zero: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not (value > 0 or (allow_zero and value == 0)) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"not a usable number of seconds: {text!r}")
        return value

    return parse


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Subcommands take the global options too (`subaccounts list --json`); their defaults are
    # suppressed there so they do not overwrite a value given before the subcommand.
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=default(None),
        help=f"the account's API key (default: ${API_KEY_ENV})",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help="API root (default: $SMSPARTNER_BASE_URL, else https://api.smspartner.fr/v1/)",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        default=default(False),
        help="talk to a fresh in-memory emulator with 45 sub-accounts; no key needed, "
        "nothing real is touched, nothing persists between runs",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine output: JSON only, amounts as strings",
    )
    group.add_argument(
        "--timeout",
        metavar="S",
        type=_seconds(allow_zero=False),
        default=default(10.0),
        help="seconds to wait for each answer (default: 10)",
    )


def _journal_options(parser: argparse.ArgumentParser, *, settling: bool = False) -> None:
    parser.add_argument(
        "--journal",
        metavar="PATH",
        help="the run's journal (default: FILE.csv.journal next to the file; stdin has none "
        "unless given)",
    )
    if not settling:
        parser.add_argument(
            "--no-journal",
            action="store_true",
            help="run without a journal: a crash then leaves no way to resume",
        )
    else:
        parser.set_defaults(no_journal=False)


def _add_bulk_commands(
    credit: argparse._SubParsersAction[_Parser],  # pyright: ignore[reportPrivateUsage]
    command: Callable[..., _Parser],
    money_moved: str,
) -> None:
    """``credit bulk`` and ``credit settle``."""
    bulk = command(
        credit,
        "bulk",
        "_topups:bulk",
        "move credit for many sub-accounts from a CSV file, journaled so a crash can resume",
    )
    bulk.add_argument(
        "file",
        metavar="FILE.csv",
        help="token and amount columns, as Excel or LibreOffice write them in French or English "
        "(';' or ',', decimal comma or point, an optional header such as token;montant); "
        "- reads stdin",
    )
    bulk.add_argument(
        "--remove", action="store_true", help="take the amounts back instead of adding them"
    )
    bulk.add_argument(
        "--concurrency",
        metavar="N",
        type=_positive_int,
        default=16,
        help="transfers in flight at once (default: 16)",
    )
    _journal_options(bulk)
    run = bulk.add_mutually_exclusive_group()
    run.add_argument(
        "--resume",
        action="store_true",
        help="resume the unfinished run its journal holds (items applied are not sent again)",
    )
    run.add_argument(
        "--new-run",
        action="store_true",
        help="start a new run of the file (next month's); the previous journal is kept under a "
        "dated name. Refused while the previous run has items to settle",
    )
    bulk.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file and show what would be sent, then stop: nothing is sent",
    )
    bulk.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation on a terminal (it never asks when not on one)",
    )
    bulk.set_defaults(interrupted=money_moved)
    settle = command(
        credit,
        "settle",
        "_topups:settle",
        "decide a bulk run's unknown transfers from the balances, and record your decisions",
    )
    settle.add_argument("file", metavar="FILE.csv", help="the run's file (its lines name items)")
    _journal_options(settle, settling=True)
    settle.add_argument(
        "--landed",
        metavar="LINE",
        type=_positive_int,
        action="append",
        default=[],
        help="record that the transfer on LINE was applied (repeatable)",
    )
    settle.add_argument(
        "--not-landed",
        metavar="LINE",
        type=_positive_int,
        action="append",
        default=[],
        help="record that the transfer on LINE was not applied: resuming sends it (repeatable)",
    )
    settle.add_argument(
        "--check",
        action="store_true",
        help="show the evidence and verdicts without recording anything",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand; each sets ``handler`` (``"module:function"``) and
    ``interrupted``,
    the line printed on Ctrl-C."""
    shared = _Parser(add_help=False)
    _add_global_options(shared, suppress=True)
    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="Manage SMS Partner sub-accounts and their credit from the command line.",
        epilog=EPILOG,
        formatter_class=raw,
    )
    _add_global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {sp.__version__}")
    parser.set_defaults(interrupted="interrupted")
    money_moved = "interrupted: transfers already sent may have been applied; check the balances"
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(
        group: argparse._SubParsersAction[_Parser],  # pyright: ignore[reportPrivateUsage]
        name: str,
        handler: str,
        help: str,
        *,
        global_options: bool = True,
    ) -> _Parser:
        parents = [shared] if global_options else []
        sub = group.add_parser(
            name, parents=parents, help=help, description=help, formatter_class=raw
        )
        sub.set_defaults(handler=handler)
        return sub

    command(
        commands,
        "demo",
        "_demo:run",
        "a guided tour against an in-process emulator: no network, no key, a few seconds",
    )
    command(commands, "account", "_commands:account", "the main account and its balance")

    sub_parser = commands.add_parser(
        "subaccounts", help="list, create and delete sub-accounts", formatter_class=raw
    )
    subaccounts = sub_parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = command(subaccounts, "list", "_commands:list_subaccounts", "every sub-account")
    listing.add_argument(
        "--prefetch",
        metavar="N",
        type=_positive_int,
        default=4,
        help="pages requested ahead (default: 4)",
    )
    create = command(subaccounts, "create", "_commands:create", "create a sub-account")
    create.add_argument("type", choices=("simple", "advanced"), help="the sub-account's kind")
    create.add_argument("--email", help="its e-mail (required for advanced)")
    create.add_argument(
        "--buyer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether it buys its own credit (required for advanced)",
    )
    create.add_argument("--credit", metavar="AMOUNT", help="euros to move to it at once")
    for name in ("title", "firstname", "lastname"):
        create.add_argument(f"--{name}")
    delete = command(subaccounts, "delete", "_commands:delete", "delete a sub-account")
    delete.add_argument("token")

    credit_parser = commands.add_parser(
        "credit", help="move credit between the main account and sub-accounts", formatter_class=raw
    )
    credit = credit_parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, handler, help in (
        ("add", "_commands:add_credit", "move AMOUNT euros from the main account to TOKEN"),
        ("remove", "_commands:remove_credit", "move AMOUNT euros from TOKEN to the main account"),
    ):
        move = command(credit, name, handler, help)
        move.add_argument("token")
        move.add_argument("amount", help="euros, up to 3 decimal places")
        move.set_defaults(interrupted=money_moved)
    _add_bulk_commands(credit, command, money_moved)

    serve = command(
        commands,
        "emulator",
        "_commands:emulator",
        "serve the SMS Partner emulator over HTTP until Ctrl-C (needs smspartner-async[emulator])",
        global_options=False,  # it talks to no API: key, URL, sandbox, JSON, timeout do not apply
    )
    serve.set_defaults(interrupted="emulator stopped")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=_non_negative_int,
        default=8765,
        help="port to listen on; 0 picks a free one (default: 8765)",
    )
    serve.add_argument(
        "--latency",
        metavar="S",
        type=_seconds(allow_zero=True),
        default=0.0,
        help="seconds each request waits before its answer (default: 0)",
    )
    serve.add_argument(
        "--seed-subaccounts",
        metavar="N",
        type=_non_negative_int,
        default=0,
        help="sub-accounts to create at start, with varied balances (default: 0)",
    )
    return parser
