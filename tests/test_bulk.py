"""Bulk credit moves: input forms, validation, outcomes, callbacks, concurrency, cancellation.

The soak under faults is in ``test_bulk_soak.py``, the 10,000-call load in ``test_bulk_load.py``.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import anyio
import anyio.lowlevel
import httpx
import pytest
from _support import BASE_URL, CANARY, TRANSFER, Server, body_of, fail, ok

import smspartner_async as sp
from smspartner_async.testing import Emulator, served

pytestmark = pytest.mark.anyio

NO_WAIT = sp.RetryPolicy(initial_delay=0, max_delay=0, jitter=False)


def _sent(emu: Emulator) -> list[tuple[str, Decimal]]:
    """(token, amount) of every credit request the emulator received."""
    out: list[tuple[str, Decimal]] = []
    for r in emu.requests:
        assert isinstance(r.json, dict)
        out.append((r.json["tokenSubaccount"], Decimal(str(r.json["credit"]))))
    return out


def _moved(emu: Emulator) -> list[tuple[str, Decimal]]:
    return [(t.token, t.amount) for t in emu.transfers if t.operation != "seed"]


# -- input forms, order and the report ----------------------------------------------------------


async def test_mapping_input() -> None:
    emu = Emulator(main_balance="100")
    a, b = emu.seed_subaccounts(2)
    async with emu.client(retry=NO_WAIT) as client:
        report = await client.subaccounts.bulk_add_credit({a: Decimal("5"), b: "2.5"})
    assert report.ok
    assert [(r.token, r.amount, r.status) for r in report.results] == [
        (a, Decimal("5"), "applied"),
        (b, Decimal("2.5"), "applied"),
    ]
    assert report.applied_amount == Decimal("7.5")
    assert report.unknown_amount == 0
    assert (emu.balance(a), emu.balance(b)) == (5, Decimal("2.5"))
    assert emu.total_money() == 100
    applied = report.results[1]
    assert applied.transfer is not None
    assert applied.transfer.subaccount_balance == Decimal("2.5")
    assert applied.error is None
    assert applied.sent


async def test_pairs_input_repeats_a_token_as_several_transfers() -> None:
    emu = Emulator(main_balance="100")
    a, b = emu.seed_subaccounts(2)
    pairs = [(a, 1), (b, "2"), (a, Decimal("3")), (a, 4.5)]
    async with emu.client(retry=NO_WAIT) as client:
        # A one-shot generator works: it is read once, before anything is sent.
        report = await client.subaccounts.bulk_add_credit(p for p in pairs)
    assert report.ok
    assert [(r.token, r.amount) for r in report.results] == [
        (a, 1),
        (b, 2),
        (a, 3),
        (a, Decimal("4.5")),
    ]
    assert Counter(_moved(emu)) == Counter(
        [(a, Decimal(1)), (b, Decimal(2)), (a, Decimal(3)), (a, Decimal("4.5"))]
    )
    assert emu.balance(a) == Decimal("8.5")
    assert report.applied_amount == Decimal("10.5")


async def test_results_follow_input_order_not_completion_order() -> None:
    done: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        token = body_of(request)["tokenSubaccount"]
        # Earlier items take longer: they complete last.
        for _ in range(50 - int(token[3:])):
            await anyio.lowlevel.checkpoint()
        done.append(token)
        return ok(**TRANSFER)

    tokens = [f"tok{i}" for i in range(20)]
    async with Server(handler).client(retry=NO_WAIT) as client:
        report = await client.subaccounts.bulk_add_credit([(t, 1) for t in tokens], concurrency=20)
    assert done != tokens  # the test means something only if the order differed
    assert [r.token for r in report.results] == tokens


async def test_report_sorts_outcomes_and_summarises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = body_of(request)["tokenSubaccount"]
        if token.startswith("gone"):
            return fail(7, "This sub-account does not exist.")
        if token.startswith("poor"):
            return fail(8, "Insufficient credit.")
        if token.startswith("lost"):
            return httpx.Response(503, json={"success": False, "code": 503})
        return ok(**TRANSFER)

    items = [
        ("ok1", "1.5"),
        ("gone1", "2"),
        ("lost1", "3"),
        ("ok2", "4"),
        ("poor1", "5"),
        *[(f"lost{i}", "0.5") for i in range(2, 15)],
    ]
    async with Server(handler).client(retry=NO_WAIT) as client:
        report = await client.subaccounts.bulk_add_credit(items, concurrency=4)
    assert not report.ok
    assert [r.token for r in report.applied] == ["ok1", "ok2"]
    assert [r.token for r in report.failed] == ["gone1", "poor1"]
    assert isinstance(report.failed[0].error, sp.NotFoundError)
    assert isinstance(report.failed[1].error, sp.InsufficientCreditError)
    assert all(r.sent for r in report.failed)
    assert len(report.unknown) == 14
    assert all(isinstance(r.error, sp.OutcomeUnknownError) for r in report.unknown)
    assert isinstance(report.unknown[0].error.__cause__, sp.ServerError)
    assert report.applied_amount == Decimal("5.5")
    assert report.unknown_amount == Decimal("3") + 13 * Decimal("0.5")
    # Every item exactly once, in one of the three lists.
    assert len(report.applied) + len(report.failed) + len(report.unknown) == len(items)

    summary = report.summary()
    lines = summary.splitlines()
    assert lines[0] == (
        "18 items: 2 applied (5.500 EUR), 2 failed, 14 unknown (9.500 EUR may have moved)"
    )
    assert any("gone1" in line and "failed" in line for line in lines)
    assert lines[-1] == "  ... and 6 more"
    assert len(lines) == 1 + 10 + 1  # one screen: the count line, 10 problems, the rest
    assert str(report) == summary
    assert len(report.summary(limit=100).splitlines()) == 1 + 16


async def test_empty_input() -> None:
    server = Server()
    calls: list[tuple[int, int]] = []
    async with server.client() as client:
        report = await client.subaccounts.bulk_add_credit(
            {}, on_progress=lambda *a: calls.append(a)
        )
    assert report.results == []
    assert report.ok
    assert report.applied_amount == 0
    assert server.count == 0
    assert calls == []


# -- validation: everything is checked before the first request --------------------------------


def _many_then(bad: object) -> list[tuple[object, object]]:
    return [*[(f"tok{i}", i + 1) for i in range(500)], bad, ("tok-last", 1)]


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (("tokX", "NaN"), "'tokX'"),
        (("tokX", Decimal("Infinity")), "'tokX'"),
        (("tokX", float("inf")), "'tokX'"),
        (("tokX", 0), "'tokX'"),
        (("tokX", "-1"), "'tokX'"),
        (("tokX", "1.0005"), "'tokX'"),
        (("tokX", True), "'tokX'"),
        (("tokX", None), "'tokX'"),
        (("tokX", "ten"), "'tokX'"),
        (("", 1), "''"),
        (("tok X", 1), "'tok X'"),
        ((42, 1), "42"),
        (("tokX", 1, 2), "item 500"),
        ("tokX", "item 500"),
    ],
)
async def test_one_bad_item_anywhere_refuses_the_call_and_sends_nothing(
    bad: object, named: str
) -> None:
    emu = Emulator()
    async with emu.client() as client:
        with pytest.raises(sp.ValidationError) as info:
            await client.subaccounts.bulk_add_credit(_many_then(bad))
        with pytest.raises(sp.ValidationError):
            await client.subaccounts.bulk_remove_credit(iter(_many_then(bad)))
    assert isinstance(info.value, ValueError)
    assert "item 500" in str(info.value)
    assert named in str(info.value)
    assert emu.requests == []


async def test_a_bad_amount_in_a_mapping_is_named() -> None:
    server = Server()
    async with server.client() as client:
        with pytest.raises(sp.ValidationError, match=r"item 1 \('b'\).*amount"):
            await client.subaccounts.bulk_add_credit({"a": 1, "b": "-2", "c": 3})
    assert server.count == 0


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5, "4", None])
async def test_concurrency_is_validated(concurrency: object) -> None:
    server = Server()
    async with server.client() as client:
        with pytest.raises(sp.ValidationError, match="concurrency"):
            await client.subaccounts.bulk_add_credit(
                {"a": 1},
                concurrency=concurrency,  # type: ignore[arg-type]
            )
    assert server.count == 0


# -- callbacks ----------------------------------------------------------------------------------


async def test_progress_and_results_callbacks() -> None:
    emu = Emulator()
    tokens = emu.seed_subaccounts(30)
    progress: list[tuple[int, int]] = []
    results: list[sp.BulkResult] = []
    items = [(t, Decimal(i + 1)) for i, t in enumerate(tokens)] + [("no-such-token", 1)]
    async with emu.client(retry=NO_WAIT) as client:
        report = await client.subaccounts.bulk_add_credit(
            items,
            concurrency=7,
            on_progress=lambda done, total: progress.append((done, total)),
            on_result=results.append,
        )
    total = len(items)
    assert progress == [(done, total) for done in range(1, total + 1)]
    assert Counter(results) == Counter(report.results)
    assert len(report.applied) == 30
    [failed] = report.failed
    assert isinstance(failed.error, sp.NotFoundError)
    assert failed.sent


async def test_a_raising_callback_does_not_stop_the_run(caplog: pytest.LogCaptureFixture) -> None:
    emu = Emulator()
    tokens = emu.seed_subaccounts(10)

    def bad_progress(done: int, total: int) -> None:
        raise RuntimeError("progress bar broke")

    def bad_result(result: sp.BulkResult) -> None:
        raise ZeroDivisionError("so did the result hook")

    with caplog.at_level(logging.ERROR, logger="smspartner_async"):
        async with emu.client(retry=NO_WAIT) as client:
            report = await client.subaccounts.bulk_add_credit(
                dict.fromkeys(tokens, 1),
                concurrency=3,
                on_progress=bad_progress,
                on_result=bad_result,
            )
    assert report.ok
    assert len(report.applied) == 10
    assert sum(1 for t in emu.transfers if t.operation != "seed") == 10
    assert len([r for r in caplog.records if "callback" in r.getMessage()]) == 20


async def test_progress_bar_is_a_valid_on_progress() -> None:
    emu = Emulator()
    tokens = emu.seed_subaccounts(5)
    bar = sp.ProgressBar("top-ups", use_tqdm=False)
    async with emu.client(retry=NO_WAIT) as client:
        report = await client.subaccounts.bulk_add_credit(dict.fromkeys(tokens, 1), on_progress=bar)
    assert report.ok


# -- concurrency --------------------------------------------------------------------------------


class _InFlight:
    """A mock server that counts the requests it is handling at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.total = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.total += 1
        self.peak = max(self.peak, self.now)
        try:
            await anyio.sleep(0.001)
        finally:
            self.now -= 1
        return ok(**TRANSFER)


@pytest.mark.parametrize(("concurrency", "max_connections", "bound"), [(7, 100, 7), (50, 5, 5)])
async def test_at_most_concurrency_requests_in_flight(
    concurrency: int, max_connections: int, bound: int
) -> None:
    counter = _InFlight()
    items = [(f"tok{i % 13}", 1) for i in range(120)]
    async with Server(counter).client(retry=NO_WAIT, max_connections=max_connections) as client:
        report = await client.subaccounts.bulk_add_credit(items, concurrency=concurrency)
    assert report.ok
    assert counter.total == 120
    assert counter.now == 0
    # The bound holds, and is reached: the work does run concurrently.
    assert counter.peak == bound


# -- refusals -----------------------------------------------------------------------------------


async def test_refusals_fail_only_their_own_item() -> None:
    emu = Emulator(main_balance="100", error_status=400)
    rich, poor = emu.seed_subaccounts(2, balance="10")
    items = [(rich, "4"), ("unknown-token", "1"), (poor, "50"), (rich, "4"), (poor, "3")]
    async with emu.client(retry=NO_WAIT) as client:
        report = await client.subaccounts.bulk_remove_credit(items, concurrency=2)
    assert [r.status for r in report.results] == [
        "applied",
        "failed",
        "failed",
        "applied",
        "applied",
    ]
    assert isinstance(report.results[1].error, sp.NotFoundError)
    assert isinstance(report.results[2].error, sp.InsufficientCreditError)
    assert report.applied_amount == 11
    assert (emu.balance(rich), emu.balance(poor)) == (2, 7)
    # Failed items never moved money.
    assert Counter(_moved(emu)) == Counter(
        [(rich, Decimal(4)), (rich, Decimal(4)), (poor, Decimal(3))]
    )
    assert emu.total_money() == 100


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_refused_api_key_stops_the_run(concurrency: int) -> None:
    emu = Emulator()
    tokens = emu.seed_subaccounts(20)
    items = [(tokens[i % 20], 1) for i in range(200)]
    results: list[sp.BulkResult] = []
    async with emu.client(api_key="not-the-key", retry=NO_WAIT) as client:
        report = await client.subaccounts.bulk_add_credit(
            items, concurrency=concurrency, on_result=results.append
        )
    assert len(report.results) == len(results) == 200
    assert len(emu.requests) <= concurrency
    assert emu.transfers == [t for t in emu.transfers if t.operation == "seed"]
    sent = [r for r in report.results if r.sent]
    not_sent = [r for r in report.results if not r.sent]
    assert len(sent) == len(emu.requests)
    assert len(not_sent) >= 200 - concurrency
    assert all(r.status == "failed" for r in report.results)
    assert all(isinstance(r.error, sp.AuthenticationError) for r in report.results)
    assert report.applied_amount == report.unknown_amount == 0
    assert "not-the-key" not in report.summary()


# -- cancellation -------------------------------------------------------------------------------


def _running_tasks(backend: str) -> int:
    if backend == "asyncio":
        import asyncio  # noqa: PLC0415 - only under asyncio

        return len(asyncio.all_tasks())
    import trio  # noqa: PLC0415 - only under trio

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            count(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    return count(trio.lowlevel.current_root_task())


def _established_to(port: int) -> int:
    """Open TCP connections from this machine to 127.0.0.1:``port`` (client side)."""
    count = 0
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                count += 1
    return count


def _cancel_after(k: int, scope: anyio.CancelScope) -> Callable[[int, int], None]:
    """An ``on_progress`` that cancels ``scope`` once ``k`` items are done: no timing involved."""

    def on_progress(done: int, total: int) -> None:
        if done == k:
            scope.cancel()

    return on_progress


def _check_cancelled_run(
    emu: Emulator,
    items: list[tuple[str, Decimal]],
    results: list[sp.BulkResult],
    k: int,
    concurrency: int,
) -> None:
    """Checks after a run of ``items`` cancelled once ``k`` were done (no refusals in it)."""
    # Every item was reported once: done, in flight (unknown), or never started (not sent).
    assert Counter((r.token, r.amount) for r in results) == Counter(items)
    statuses = Counter(r.status for r in results)
    assert statuses["applied"] >= k
    assert statuses["unknown"] <= concurrency
    assert statuses["failed"] >= len(items) - k - concurrency  # the rest never left
    moved = Counter(_moved(emu))
    sent = Counter(_sent(emu))
    for r in results:
        if r.status == "applied":
            assert moved[(r.token, r.amount)] == 1, r  # nothing reported applied wrongly
        if not r.sent:
            assert r.status == "failed"
            assert sent[(r.token, r.amount)] == 0, r  # "not sent" means not sent
        if r.status == "unknown":
            assert isinstance(r.error, sp.OutcomeUnknownError)
    assert all(r.status != "failed" or not r.sent for r in results)  # no refusals here
    # Whatever the emulator applied was reported applied or unknown, never failed.
    reported = {(r.token, r.amount): r.status for r in results}
    assert all(reported[key] in ("applied", "unknown") for key in moved)


async def test_cancel_between_items_leaves_the_rest_unsent() -> None:
    emu = Emulator()
    tokens = emu.seed_subaccounts(10)
    items = [(t, Decimal(i + 1)) for i, t in enumerate(tokens)]
    results: list[sp.BulkResult] = []
    async with emu.client(retry=NO_WAIT) as client:
        with anyio.CancelScope() as scope:
            await client.subaccounts.bulk_add_credit(
                items, concurrency=1, on_progress=_cancel_after(4, scope), on_result=results.append
            )
    assert scope.cancelled_caught
    _check_cancelled_run(emu, items, results, 4, 1)
    # One item at a time, cancelled between two: nothing was in flight, so nothing is unknown.
    assert [r.status for r in results] == ["applied"] * 4 + ["failed"] * 6
    assert len(emu.requests) == 4


async def test_cancel_mid_run_in_process(anyio_backend: str) -> None:
    emu = Emulator(latency=0.002)
    tokens = emu.seed_subaccounts(20)
    items = [(tokens[i % 20], Decimal(i + 1)) for i in range(80)]
    results: list[sp.BulkResult] = []
    async with emu.client(retry=NO_WAIT, max_connections=8) as client:
        tasks_before = _running_tasks(anyio_backend)
        with anyio.CancelScope() as scope:
            await client.subaccounts.bulk_add_credit(
                items,
                concurrency=8,
                on_progress=_cancel_after(20, scope),
                on_result=results.append,
            )
        assert scope.cancelled_caught
        assert _running_tasks(anyio_backend) == tasks_before
        seen = len(emu.requests), len(emu.transfers)
        await anyio.sleep(0.05)
        assert (len(emu.requests), len(emu.transfers)) == seen  # nothing still going
        _check_cancelled_run(emu, items, results, 20, 8)

        # The client is whole: no connection slot was lost to the cancelled calls.
        again = await client.subaccounts.bulk_add_credit(
            [(t, Decimal("0.5")) for t in tokens], concurrency=20
        )
    assert again.ok


async def test_cancel_mid_run_served_leaves_no_task_or_connection(anyio_backend: str) -> None:
    emu = Emulator(latency=0.02)
    tokens = emu.seed_subaccounts(20)
    items = [(tokens[i % 20], Decimal(i + 1)) for i in range(80)]
    results: list[sp.BulkResult] = []
    async with served(emu) as base_url:
        port = httpx.URL(base_url).port
        assert port is not None
        async with sp.AsyncSMSPartner(
            api_key=emu.api_key, base_url=base_url, retry=NO_WAIT, timeout=10, max_connections=8
        ) as client:
            tasks_before = _running_tasks(anyio_backend)
            with anyio.CancelScope() as scope:
                await client.subaccounts.bulk_add_credit(
                    items,
                    concurrency=8,
                    on_progress=_cancel_after(20, scope),
                    on_result=results.append,
                )
            assert scope.cancelled_caught
            assert _running_tasks(anyio_backend) == tasks_before
            # Requests already on the wire may still land (the server reads them late), but
            # nothing is sent for an item after the cancellation: every request the emulator
            # ever sees belongs to an item reported applied or in flight (unknown).
            started = Counter((r.token, r.amount) for r in results if r.status != "failed")
            assert len(started) <= 20 + 8
            await anyio.sleep(0.2)  # longer than the emulator's latency
            assert Counter(_sent(emu)) <= started
            # The cancelled calls' connections are gone; only idle kept-alive ones remain.
            assert _established_to(port) <= 8
            _check_cancelled_run(emu, items, results, 20, 8)

            # Every connection slot came back: a full-width run on the same client completes.
            with anyio.fail_after(30):  # a hang guard, not a timing assertion
                again = await client.subaccounts.bulk_add_credit(
                    [(t, Decimal("0.5")) for t in tokens], concurrency=20
                )
            assert again.ok
        assert _established_to(port) == 0  # closing the client closed every connection


class _Interrupt(BaseException):
    """Stands for KeyboardInterrupt, which trio may raise inside whichever task is running."""


async def test_an_interrupt_mid_flight_still_reports_every_item() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0)
        if body_of(request)["tokenSubaccount"] == "tok5":
            raise _Interrupt
        await anyio.sleep(0.001)
        return ok(**TRANSFER)

    results: list[sp.BulkResult] = []
    items = [(f"tok{i}", i + 1) for i in range(20)]
    async with Server(handler).client(retry=NO_WAIT) as client:
        with pytest.raises(BaseExceptionGroup) as info:
            await client.subaccounts.bulk_add_credit(items, concurrency=4, on_result=results.append)
    assert info.group_contains(_Interrupt)
    assert Counter(r.token for r in results) == Counter(t for t, _ in items)
    [interrupted] = [r for r in results if r.token == "tok5"]
    assert interrupted.status == "unknown"
    assert isinstance(interrupted.error, sp.OutcomeUnknownError)


async def test_a_call_in_a_cancelled_scope_sends_nothing() -> None:
    server = Server(lambda request: ok(**TRANSFER))
    async with server.client(retry=NO_WAIT) as client:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.subaccounts.add_credit("tok1", 1)
        assert scope.cancelled_caught
    assert server.count == 0


async def test_a_call_cancelled_while_sending_its_body_leaves_nothing_behind() -> None:
    """httpx's own body iterator is an async generator that trio reports when a cancellation
    leaves it suspended (encode/httpx#3686); pytest turns that report into a failure here."""
    sending = anyio.Event()

    class SlowUpload(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            assert isinstance(request.stream, httpx.AsyncByteStream)
            async for _chunk in request.stream:
                sending.set()
                await anyio.sleep_forever()
            raise AssertionError("unreachable")

    async with (
        sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, transport=SlowUpload()) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.subaccounts.add_credit, "tok1", 1)
        await sending.wait()
        tg.cancel_scope.cancel()
    gc.collect()
