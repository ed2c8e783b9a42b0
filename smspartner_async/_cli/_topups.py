"""``credit bulk`` and ``credit settle``: journaled top-ups from a CSV file, and their settlement.

``credit bulk FILE.csv`` checks the whole file, shows what it is about to do, and runs with a
journal next to the file (``FILE.csv.journal``). Run again after a crash, it finds the
unfinished run and says what it holds; ``--resume`` (or a "yes" on a terminal) resumes it,
``--new-run`` starts over (keeping the old journal under a dated name). ``credit settle FILE.csv``
decides unknown items from the balances and records a person's verdict on the rest.
"""

from __future__ import annotations

import io
import sys
from decimal import Decimal
from pathlib import Path

import smspartner_async as sp
from smspartner_async._cli._app import CLIError, Context, ExitCode
from smspartner_async._cli._csv import CSVError, TransferFile, read_transfers
from smspartner_async._cli._output import (
    ask,
    emit_json,
    fancy_terminal,
    interactive,
    money,
    money_json,
    pairs,
    shown,
)

__all__ = ["bulk", "settle"]

SETTLE_HINT = "smspartner-async credit settle"


def _read(path: str) -> TransferFile:
    try:
        return read_transfers(path, stdin=sys.stdin if path == "-" else None)  # type: ignore[arg-type]
    except CSVError as exc:
        message = str(exc)
        raise CLIError(
            message if message.startswith(("stdin", path)) else f"{path} {message}"
        ) from None


class _NothingToDo(Exception):  # noqa: N818 - not an error: a message and exit 0
    """The journal's run already finished, and a resume was asked for: nothing to send."""


def _journal_path(ctx: Context) -> Path | None:
    args = ctx.args
    if args.no_journal:
        return None
    if args.journal is not None:
        return Path(args.journal)
    if args.file == "-":
        return None  # stdin has no place for one: --journal says where
    return Path(f"{args.file}.journal")


def _found(status: sp.JournalStatus, path: Path) -> str:
    started = status.created_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"found an unfinished run in {path} (started {started}): {status.applied} applied "
        f"({money(status.applied_amount)} EUR), {status.to_send} to send, "
        f"{status.to_settle} to settle"
    )


def _archive(path: Path, status: sp.JournalStatus) -> Path:
    stamp = status.created_at.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.{stamp}-{counter}")
    path.rename(target)
    return target


async def _choose_run(ctx: Context, journal: sp.BulkJournal) -> tuple[bool, list[str]]:
    """Whether this call resumes the journal's run, and lines to show; CLIError to stop."""
    args = ctx.args
    status = await journal.status()
    if status is None:
        return False, []
    path = journal.path
    if args.new_run:
        if status.to_settle:
            raise CLIError(
                f"{path}: the previous run has {status.to_settle} items that may have been "
                f"applied; settle them first ({SETTLE_HINT} {args.file}), so a new run "
                "cannot pay them twice"
            )
        kept = _archive(path, status)
        return False, [f"previous run's journal kept as {kept}; starting a new run"]
    if status.finished and args.resume:
        raise _NothingToDo(
            f"{path}: the run finished, every one of its {status.items} items applied"
        )
    if status.finished:
        started = status.created_at.strftime("%Y-%m-%d %H:%M UTC")
        raise CLIError(
            f"{args.file} was already run (started {started}, every one of its {status.items} "
            f"items applied, journal {path}). To run it again as a new run, pass --new-run"
        )
    found = _found(status, path)
    if args.resume:
        return True, [found, "resuming it"]
    if interactive() and not ctx.json:
        print(shown(found, keep_newlines=True))
        answer = await ask("Resume this run? Items applied are not sent again. [y/N] ")
        if answer.strip().lower() in ("y", "yes", "o", "oui"):
            return True, []
        raise CLIError("nothing sent: pass --resume to resume, or --new-run", ExitCode.OK)
    raise CLIError(f"{found}: pass --resume to resume it, or --new-run to start over")


async def bulk(ctx: Context) -> int:
    """``credit bulk``: every CSV row is one transfer; exit 0 only if all were applied."""
    args = ctx.args
    transfers = _read(args.file)
    path = _journal_path(ctx)
    journal = None if path is None else sp.BulkJournal(path)
    notes: list[str] = []
    resuming = False
    if journal is not None:
        try:
            resuming, notes = await _choose_run(ctx, journal)
        except _NothingToDo as done:
            if ctx.json:
                emit_json({"journal": str(journal.path), "finished": True, "sent": 0})
            else:
                print(f"{done}: nothing to send")
            return ExitCode.OK
    async with ctx.client() as client:
        preview = await _preview(client, transfers, remove=args.remove)
        if not ctx.json:
            for line in notes:
                print(shown(line, keep_newlines=True))
            print(shown(_preview_text(preview, transfers), keep_newlines=True))
        if args.dry_run:
            if ctx.json:
                emit_json({"dry_run": True, **_preview_json(preview, transfers, path)})
            return ExitCode.OK
        if not await _confirmed(ctx, transfers):
            print("nothing sent")
            return ExitCode.OK
        show_bar = fancy_terminal() and not ctx.json
        label = "removing" if args.remove else "adding"
        subs = client.subaccounts
        run = subs.bulk_remove_credit if args.remove else subs.bulk_add_credit
        report = await run(
            transfers.items(),
            concurrency=args.concurrency,
            on_progress=sp.ProgressBar(label, stream=sys.stderr) if show_bar else None,
            journal=journal,
        )
    if ctx.json:
        emit_json(
            {
                **_preview_json(preview, transfers, path),
                "resumed": resuming,
                **_report_json(report, transfers),
            }
        )
    else:
        _print_report(report, args.file, journaled=journal is not None)
    if report.unknown:
        return ExitCode.UNKNOWN
    return ExitCode.OK if report.ok else ExitCode.REFUSED


async def _confirmed(ctx: Context, transfers: TransferFile) -> bool:
    """On a terminal (and without ``--yes``), whether the person says to go ahead."""
    if not interactive() or ctx.json or ctx.args.yes:
        return True
    verb = "Take back" if ctx.args.remove else "Move"
    prompt = f"{verb} {money(transfers.total)} EUR in {len(transfers.rows)} transfers? [y/N] "
    return (await ask(prompt)).strip().lower() in ("y", "yes", "o", "oui")


def _print_report(report: sp.BulkReport, file: str, *, journaled: bool) -> None:
    earlier = sum(r.from_journal and r.status == "applied" for r in report.results)
    if earlier:
        print(f"{earlier} items were applied by an earlier run and not sent again")
    print(shown(report.summary(), keep_newlines=True))
    if report.unknown and journaled:
        print(
            f"{len(report.unknown)} items may have been applied: they are never sent again "
            f"until settled: {SETTLE_HINT} {file}"
        )


async def _preview(
    client: sp.AsyncSMSPartner, transfers: TransferFile, *, remove: bool
) -> Decimal | None:
    """The main balance, read before anything moves (None when removing: not needed)."""
    if remove:
        return None
    return (await client.account()).balance


def _preview_text(balance: Decimal | None, transfers: TransferFile) -> str:
    rows = [
        ("file", f"{transfers.name} ({transfers.encoding}, '{_shown(transfers.separator)}')"),
        ("transfers", str(len(transfers.rows))),
        ("total", f"{money(transfers.total)} EUR"),
    ]
    repeated = transfers.repeated()
    if repeated:
        shown = ", ".join(
            f"{token} (lines {', '.join(map(str, lines))})"
            for token, lines in list(repeated.items())[:5]
        )
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        rows.append(("repeated tokens", f"{len(repeated)}: {shown}{more}"))
    else:
        rows.append(("repeated tokens", "none"))
    if balance is not None:
        covered = "covers it" if balance >= transfers.total else "DOES NOT cover it"
        rows.append(("main balance", f"{money(balance)} EUR: {covered}"))
    return pairs(rows)


def _shown(separator: str) -> str:
    return "\\t" if separator == "\t" else separator


def _preview_json(
    balance: Decimal | None, transfers: TransferFile, path: Path | None
) -> dict[str, object]:
    return {
        "file": transfers.name,
        "encoding": transfers.encoding,
        "separator": transfers.separator,
        "items": len(transfers.rows),
        "total": money_json(transfers.total),
        "repeated_tokens": transfers.repeated(),
        "main_balance": None if balance is None else money_json(balance),
        "covered": None if balance is None else balance >= transfers.total,
        "journal": None if path is None else str(path),
    }


def _report_json(report: sp.BulkReport, transfers: TransferFile) -> dict[str, object]:
    return {
        "ok": report.ok,
        "applied": len(report.applied),
        "failed": len(report.failed),
        "unknown": len(report.unknown),
        "applied_amount": money_json(report.applied_amount),
        "unknown_amount": money_json(report.unknown_amount),
        "results": [
            {
                "line": row.line,
                "token": r.token,
                "amount": money_json(r.amount),
                "status": r.status,
                "sent": r.sent,
                "from_journal": r.from_journal,
                "subaccount_balance": (
                    money_json(r.transfer.subaccount_balance) if r.transfer else None
                ),
                "error": None if r.error is None else " ".join(str(r.error).split()),
            }
            for row, r in zip(transfers.rows, report.results, strict=True)
        ],
    }


async def settle(ctx: Context) -> int:
    """``credit settle``: decide unknown items from the balances; record a person's verdicts."""
    args = ctx.args
    path = _journal_path(ctx)
    if path is None:
        raise CLIError("settling needs the run's journal: pass --journal PATH")
    transfers = _read(args.file)
    journal = sp.BulkJournal(path)
    if await journal.status() is None:
        raise CLIError(f"{path} holds no run to settle")
    decisions = _decisions(args.landed, args.not_landed, transfers)
    if args.check and decisions:
        raise CLIError("--check records nothing: leave out --landed and --not-landed")
    async with ctx.client() as client:
        verdicts = await journal.settle(client, record=not args.check)
    waiting = [s for s in verdicts if s.verdict == "undecided"]
    for index in decisions.keys() - {s.index for s in waiting}:
        raise CLIError(f"line {transfers.rows[index].line} is not waiting for a decision")
    if not args.check:
        if interactive() and not ctx.json:
            await _ask_people(waiting, transfers, decisions)
        for index, landed in decisions.items():
            await journal.decide(index, landed=landed, note="decided by a person")
    status = await journal.status()
    assert status is not None
    results = [
        _settlement_json(s, transfers.rows[s.index].line, decisions, recorded=not args.check)
        for s in verdicts
    ]
    if ctx.json:
        emit_json(
            {
                "journal": str(path),
                "items": results,
                "to_send": status.to_send,
                "to_settle": status.to_settle,
                "finished": status.finished,
            }
        )
    else:
        if not verdicts:
            print("nothing to settle")
        for s, result in zip(verdicts, results, strict=True):
            how = result["decided_by"] or "waiting for a person"
            text = f"{_settlement_text(transfers.rows[s.index].line, s)}\n    [{how}]"
            print(shown(text, keep_newlines=True))
        print(
            f"{status.to_settle} still to settle, {status.to_send} to send by resuming "
            f"(smspartner-async credit bulk {args.file} --resume)"
        )
    return ExitCode.UNKNOWN if status.to_settle else ExitCode.OK


def _decisions(
    landed: list[int], not_landed: list[int], transfers: TransferFile
) -> dict[int, bool]:
    """Item index -> landed, from the lines given on the command line."""
    index = {row.line: i for i, row in enumerate(transfers.rows)}
    decisions: dict[int, bool] = {}
    for lines, verdict in ((landed, True), (not_landed, False)):
        for line in lines:
            if line not in index:
                raise CLIError(f"{transfers.name} has no transfer on line {line}")
            decisions[index[line]] = verdict
    return decisions


async def _ask_people(
    waiting: list[sp.Settlement], transfers: TransferFile, decisions: dict[int, bool]
) -> None:
    for s in waiting:
        if s.index in decisions:
            continue
        print(shown(_settlement_text(transfers.rows[s.index].line, s), keep_newlines=True))
        answer = (await ask("Did this transfer land? [y]es / [n]o / [s]kip: ")).strip().lower()
        if answer[:1] in ("y", "o", "n"):
            decisions[s.index] = answer[:1] != "n"


def _settlement_json(
    s: sp.Settlement, line: int, decisions: dict[int, bool], *, recorded: bool
) -> dict[str, object]:
    decided_by: str | None = None
    landed: bool | None = None
    if s.index in decisions:
        decided_by, landed = "person", decisions[s.index]
    elif s.verdict != "undecided" and recorded:
        decided_by, landed = "evidence", s.verdict == "landed"
    return {
        "line": line,
        "token": s.token,
        "amount": money_json(s.amount),
        "verdict": s.verdict,
        "decided_by": decided_by,
        "landed": landed,
        "evidence": list(s.evidence),
    }


def _settlement_text(line: int, s: sp.Settlement) -> str:
    out = io.StringIO()
    out.write(f"line {line}: {s.token} {money(s.amount)} EUR -> {s.verdict}")
    for evidence in s.evidence:
        out.write(f"\n    {evidence}")
    return out.getvalue()
