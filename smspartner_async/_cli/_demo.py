"""``smspartner-async demo``: a guided tour of the library against an in-process emulator.

No network, no key, a few seconds. It walks the paginator, creates a sub-account, moves
credit, runs a bulk top-up through injected faults (retried 503 and 429s, one answer lost
after the server applied it), proves from the balances that no money was created or lost, then
kills a journaled run mid-flight (in-process: its task is cancelled), resumes it, settles what
was in flight from the balances, and shows every item applied exactly once.
"""

from __future__ import annotations

import itertools
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import anyio
import attrs

import smspartner_async as sp
from smspartner_async._cli._app import Context, ExitCode
from smspartner_async._cli._output import (
    count,
    emit_json,
    fancy_terminal,
    money,
    money_json,
    shown,
    table,
)
from smspartner_async._cli._sandbox import SANDBOX_SUBACCOUNTS, seeded_emulator
from smspartner_async.testing import Emulator, Fault

__all__ = ["run"]

BULK_ITEMS = 200
#: The journaled run that dies: its items (one per sub-account), and after how many outcomes.
CRASH_ITEMS = 40
CRASH_AFTER = 12
BULK_CONCURRENCY = 32
#: Short, so the stalled transfer gives up quickly; every emulated answer takes ~10 ms.
TIMEOUT = 0.5
LATENCY = 0.01
ADD = "subaccount/credit/add"


@attrs.define
class _RetryLog:
    """An ``on_retry`` hook that remembers each retry so the demo can show it."""

    seen: list[sp.RetryDetails] = attrs.field(factory=list[sp.RetryDetails])

    def __call__(self, details: sp.RetryDetails) -> None:
        self.seen.append(details)

    def drain(self) -> list[sp.RetryDetails]:
        seen, self.seen = self.seen, []
        return seen


def _status(error: BaseException | None) -> str:
    """``HTTP 503``, ``timed out``...: what went wrong, in two words."""
    if error is None:
        return "-"
    if isinstance(error, sp.APIError) and error.status_code is not None:
        return f"HTTP {error.status_code}"
    if isinstance(error, sp.APITimeoutError):
        return "timed out"
    return type(error).__name__


class _Tour:
    """The demo's steps, sharing one emulator, one retry log and one way to print."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.retries = _RetryLog()
        self.emulator: Emulator = seeded_emulator(SANDBOX_SUBACCOUNTS, latency=LATENCY)
        self.started = time.perf_counter()

    def say(self, text: str = "") -> None:
        if not self.quiet:
            print(shown(text, keep_newlines=True))

    def show_retries(self, indent: str = "     ") -> None:
        for r in self.retries.drain():
            self.say(
                f"{indent}retried after {_status(r.error)} on {r.endpoint} "
                f"(attempt {r.attempt} failed, waited {r.delay:.2f} s)"
            )

    async def run(self) -> int:
        policy = sp.RetryPolicy(initial_delay=0.05, max_delay=0.2, on_retry=self.retries)
        self.say("smspartner-async demo: an in-process SMS Partner emulator; no network, no key")
        async with self.emulator.client(retry=policy, timeout=TIMEOUT) as client:
            start_main = (await client.account()).balance
            start_subs = await self.walk(client)
            start_total = start_main + sum(start_subs.values(), Decimal(0))
            self.say(f"   main account: {money(start_main)} EUR")
            self.say(f"   starting total: {money(start_total)} EUR")
            await self.create_and_move(client)
            before = await self.balances(client)
            logged = len(self.emulator.transfers)
            report = await self.bulk(client, [*before])
            after = await self.balances(client)
            landed = self.resolve(report, before, after)
            end_main = (await client.account()).balance
        ledger = sum((t.amount for t in self.emulator.transfers[logged:]), Decimal(0))
        moved = sum(after.values(), Decimal(0)) - sum(before.values(), Decimal(0))
        balanced, figures = self.reconcile(
            _Books(start_total, end_main, after, report, landed, moved, ledger)
        )
        resumed = await self.crash_and_resume([*before])
        ok = balanced and resumed["exactly_once"] is True
        elapsed = time.perf_counter() - self.started
        if self.quiet:
            emit_json({**figures, "balanced": balanced, "crash_resume": resumed})
        else:
            verdict = "every euro accounted for" if ok else "THE BOOKS DO NOT BALANCE"
            self.say(f"\nDone in {elapsed:.1f} s: {verdict}.")
        return ExitCode.OK if ok else ExitCode.REFUSED

    async def crash_and_resume(self, tokens: Sequence[str]) -> dict[str, object]:
        """A journaled run whose process "dies" mid-flight, then its resume and settlement."""
        self.say("\n6. A crash and a resume: a journaled top-up stopped mid-flight")
        items = [(tokens[i], Decimal("1.5")) for i in range(CRASH_ITEMS)]
        logged = len(self.emulator.transfers)
        with tempfile.TemporaryDirectory() as folder:
            journal = sp.BulkJournal(Path(folder) / "top-ups.journal")
            async with self.emulator.client(timeout=TIMEOUT * 20) as client:
                subs = client.subaccounts
                # Two transfers are applied and then hang: when the run dies they are in flight.
                self.emulator.inject(Fault.apply_then_stall(TIMEOUT * 40), endpoint=ADD, times=2)
                done: list[sp.BulkResult] = []
                with anyio.CancelScope() as scope:

                    def crash(result: sp.BulkResult) -> None:
                        done.append(result)
                        if len(done) == CRASH_AFTER:
                            scope.cancel()  # stands for SIGKILL: the run stops here

                    await subs.bulk_add_credit(
                        items, concurrency=8, journal=journal, on_result=crash
                    )
                status = await journal.status()
                assert status is not None
                self.say(
                    f"   the run died after {CRASH_AFTER} outcomes; its journal holds "
                    f"{status.applied} applied, {status.to_send} to send, "
                    f"{status.to_settle} to settle"
                )
                resumed = await subs.bulk_add_credit(items, concurrency=8, journal=journal)
                earlier = sum(r.from_journal for r in resumed.applied)
                self.say(
                    f"   resumed: {earlier} applied earlier, not sent again; "
                    f"{len(resumed.applied) - earlier} sent now; "
                    f"{len(resumed.unknown)} held back for settlement"
                )
                verdicts = await journal.settle(client)
                for v in verdicts:
                    self.say(f"   settled {v.token[:8]}... {money(v.amount)} EUR: {v.verdict}")
                    # The line the verdict rests on: the sub-account's rise, or the main
                    # account's fall (the one before the verdict's own line).
                    self.say(f"      {v.evidence[0] if v.verdict == 'landed' else v.evidence[-2]}")
                for v in verdicts:
                    if v.verdict == "undecided":  # a person would look; the demo asks its ledger
                        seen = any(t.token == v.token for t in self.emulator.transfers[logged:])
                        await journal.decide(v.index, landed=seen, note="demo")
                status = await journal.status()
                assert status is not None
                if not status.finished:  # some did not land: the resume sends exactly those
                    await subs.bulk_add_credit(items, concurrency=8, journal=journal)
                    status = await journal.status()
                    assert status is not None
        paid = Counter(t.token for t in self.emulator.transfers[logged:])
        once = paid == Counter(token for token, _ in items) and status.finished
        self.say(
            f"   after settling and resuming: {status.applied} of {len(items)} applied, "
            f"{'each exactly once' if once else 'NOT exactly once'} per the ledger"
        )
        return {
            "items": len(items),
            "settled": dict(Counter(v.verdict for v in verdicts)),
            "finished": status.finished,
            "exactly_once": once,
        }

    async def walk(self, client: sp.AsyncSMSPartner) -> dict[str, Decimal]:
        self.say("\n1. Walking the sub-account list, one page after another")
        balances: dict[str, Decimal] = {}
        async for page in client.subaccounts.list(prefetch=1).pages():
            self.show_retries()
            pages = max(1, math.ceil(page.total / max(1, page.per_page)))
            held = sum((s.credits.balance for s in page.items), Decimal(0))
            ids = f"ids {page.items[0].id}-{page.items[-1].id}" if page.items else ""
            self.say(
                f"   page {page.page}/{pages}  {len(page.items):>2} sub-accounts  "
                f"{ids:<9}  {money(held):>9} EUR"
            )
            balances.update((s.token, s.credits.balance) for s in page.items)
            if page.page == 1:
                # A transient server error on the next read: reads are safe to retry.
                self.emulator.inject(Fault.status(503), endpoint="subaccount/list")
        held = sum(balances.values(), Decimal(0))
        self.say(f"   {len(balances)} sub-accounts holding {money(held)} EUR")
        return balances

    async def create_and_move(self, client: sp.AsyncSMSPartner) -> None:
        self.say("\n2. Creating a sub-account and moving credit in and out of it")
        created = await client.subaccounts.create("simple", email="demo-shop@example.com")
        self.say(f"   created {created.email}, token {created.token}")
        subs = client.subaccounts
        for verb, move, amount in (
            ("add   ", subs.add_credit, Decimal("75")),
            ("remove", subs.remove_credit, Decimal("25.5")),
        ):
            t = await move(created.token, amount)
            self.say(
                f"   {verb} {money(amount):>6} EUR -> sub-account {money(t.subaccount_balance):>6}"
                f" EUR, main {money(t.account_balance)} EUR"
            )

    async def balances(self, client: sp.AsyncSMSPartner) -> dict[str, Decimal]:
        return {s.token: s.credits.balance async for s in client.subaccounts.list()}

    async def bulk(self, client: sp.AsyncSMSPartner, tokens: Sequence[str]) -> sp.BulkReport:
        items = [(tokens[i % len(tokens)], Decimal("2.5") * (1 + i % 4)) for i in range(BULK_ITEMS)]
        self.say(
            f"\n3. Bulk top-up: {BULK_ITEMS} transfers over {len(tokens)} sub-accounts, "
            f"{BULK_CONCURRENCY} at a time, through injected faults:"
        )
        self.say("   3 x HTTP 429 (refused before acting: safe to retry)")
        self.say("   1 x HTTP 503 after the request was sent (never retried blindly)")
        self.say(f"   1 x applied by the server, then no answer within the {TIMEOUT} s timeout")
        # Queued faults hit the next requests to the endpoint, in this order.
        self.emulator.inject(Fault.status(429), endpoint=ADD, times=3)
        self.emulator.inject(Fault.status(503), endpoint=ADD)
        self.emulator.inject(Fault.apply_then_stall(TIMEOUT * 4), endpoint=ADD)
        bar = None
        if fancy_terminal() and not self.quiet:
            sys.stdout.flush()  # the bar goes to stderr: the lines above must come first
            bar = sp.ProgressBar("   top-up", stream=sys.stderr)
        report = await client.subaccounts.bulk_add_credit(
            items, concurrency=BULK_CONCURRENCY, on_progress=bar
        )
        self.show_retries(indent="   ")
        rows = [
            [status, str(len(results)), money(sum((r.amount for r in results), Decimal(0)))]
            for status, results in (
                ("applied", report.applied),
                ("failed", report.failed),
                ("unknown", report.unknown),
            )
        ]
        self.say()
        self.say(_indent(table(["outcome", "items", "EUR"], rows, right={1, 2})))
        return report

    def resolve(
        self, report: sp.BulkReport, before: dict[str, Decimal], after: dict[str, Decimal]
    ) -> list[sp.BulkResult]:
        """Decide each unknown item from the balances, as one would against the real API."""
        self.say(f"\n4. Resolving the {len(report.unknown)} unknown transfers from the balances")
        # Per token, whatever arrived beyond the confirmed transfers came from unknown ones.
        extra = {token: after[token] - before[token] for token in before}
        for r in report.applied:
            extra[r.token] -= r.amount
        unknown_by_token: dict[str, list[sp.BulkResult]] = {}
        for r in report.unknown:
            unknown_by_token.setdefault(r.token, []).append(r)
        landed: list[sp.BulkResult] = []
        for token, items in unknown_by_token.items():
            landed.extend(_summing_to(items, extra[token]))
        rows = [
            [
                r.token,
                money(r.amount),
                _status(r.error.__cause__ if r.error is not None else None),
                "applied" if r in landed else "NOT applied",
            ]
            for r in report.unknown
        ]
        headers = ["token", "EUR", "why unknown", "the balance shows"]
        self.say(_indent(table(headers, rows, right={1})))
        return landed

    def reconcile(self, books: _Books) -> tuple[bool, dict[str, object]]:
        held = sum(books.subs.values(), Decimal(0))
        total = books.main + held
        balanced = total == books.start_total
        applied = books.report.applied
        landed = sum((r.amount for r in books.landed), Decimal(0))
        expected = books.report.applied_amount + landed
        matches = books.moved == expected == books.ledger
        ok = {True: "OK", False: "MISMATCH"}
        self.say("\n5. Reconciliation")
        rows = [
            ["main account", money(books.main), ""],
            [f"{len(books.subs)} sub-accounts", money(held), ""],
            ["total now", money(total), ""],
            [
                "total at start",
                money(books.start_total),
                f"{ok[balanced]}: nothing created or lost",
            ],
        ]
        self.say(_indent(table(["balances", "EUR", ""], rows, right={1})))
        self.say()
        rows = [
            [f"applied ({count(len(applied), 'item')})", money(books.report.applied_amount), ""],
            [
                f"+ unknown that landed ({len(books.landed)} of {len(books.report.unknown)})",
                money(landed),
                "",
            ],
            ["= expected change", money(expected), ""],
            [
                "sub-account balances, after - before",
                money(books.moved),
                ok[books.moved == expected],
            ],
            ["the emulator's ledger", money(books.ledger), ok[books.ledger == expected]],
        ]
        self.say(_indent(table(["bulk top-up", "EUR", ""], rows, right={1})))
        self.say(
            "   An unknown transfer may or may not have moved money: the balances show which did,"
        )
        self.say(
            "   so the change is applied + unknown-that-landed, and a retry pays only the rest."
        )
        figures: dict[str, object] = {
            "start_total": money_json(books.start_total),
            "total": money_json(total),
            "main_balance": money_json(books.main),
            "subaccounts": len(books.subs),
            "subaccounts_balance": money_json(held),
            "bulk_applied": len(applied),
            "bulk_failed": len(books.report.failed),
            "bulk_unknown": len(books.report.unknown),
            "bulk_applied_amount": money_json(books.report.applied_amount),
            "bulk_unknown_landed": money_json(landed),
            "bulk_moved": money_json(books.moved),
        }
        return balanced and matches, figures


@attrs.frozen
class _Books:
    """The figures the reconciliation compares."""

    start_total: Decimal
    main: Decimal
    subs: dict[str, Decimal]
    report: sp.BulkReport
    landed: list[sp.BulkResult]
    moved: Decimal
    ledger: Decimal


def _summing_to(items: list[sp.BulkResult], total: Decimal) -> list[sp.BulkResult]:
    """The items whose amounts add up to ``total`` (none if no such set: the books then show
    the mismatch). A token rarely has more than one unknown item, so trying sets is cheap."""
    for size in range(len(items) + 1):
        for chosen in itertools.combinations(items, size):
            if sum((r.amount for r in chosen), Decimal(0)) == total:
                return list(chosen)
    return []


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


async def run(ctx: Context) -> int:
    """Run the tour; exit 0 when the books balance. ``--json`` prints only the final figures."""
    return await _Tour(quiet=ctx.json).run()
