"""Scripted faults through the in-process transport, and the ledger under concurrent load."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from smspartner_async.testing import Emulator, EmulatorTransport, Fault

BASE_URL = "https://emulator.smspartner.invalid/v1/"

pytestmark = pytest.mark.anyio


def connect(emu: Emulator, timeout: float | None = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=EmulatorTransport(emu), base_url=BASE_URL, timeout=timeout)


async def add(client: httpx.AsyncClient, emu: Emulator, token: str, amount: Any) -> httpx.Response:
    body = {"apiKey": emu.api_key, "credit": amount, "tokenSubaccount": token}
    return await client.post("subaccount/credit/add", json=body)


async def me(client: httpx.AsyncClient, emu: Emulator) -> httpx.Response:
    return await client.get("me", params={"apiKey": emu.api_key})


@pytest.fixture
def emu() -> Emulator:
    return Emulator()


@pytest.fixture
def token(emu: Emulator) -> str:
    [token] = emu.seed_subaccounts(1)
    return token


def credit_adds(emu: Emulator) -> list[Decimal]:
    return [t.amount for t in emu.transfers if t.operation == "subaccount/credit/add"]


# -- faults that answer ---------------------------------------------------------------------------


async def test_status_fault_with_retry_after(emu: Emulator, token: str) -> None:
    emu.inject(Fault.status(503, retry_after=7))
    emu.inject(Fault.status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    async with connect(emu) as client:
        first = await add(client, emu, token, 1)
        second = await add(client, emu, token, 1)
        third = await add(client, emu, token, 1)
    assert (first.status_code, first.headers["retry-after"]) == (503, "7")
    assert first.json()["success"] is False
    assert (second.status_code, second.headers["retry-after"]) == (
        429,
        "Wed, 21 Oct 2015 07:28:00 GMT",
    )
    assert third.status_code == 200
    assert credit_adds(emu) == [1]
    assert [r.fault for r in emu.requests] == [
        Fault.status(503, retry_after=7),
        Fault.status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
        None,
    ]


async def test_status_fault_without_retry_after(emu: Emulator) -> None:
    emu.inject(Fault.status(500))
    async with connect(emu) as client:
        answer = await me(client, emu)
    assert answer.status_code == 500
    assert "retry-after" not in answer.headers


async def test_html_fault(emu: Emulator, token: str) -> None:
    emu.inject(Fault.html(502))
    async with connect(emu) as client:
        answer = await add(client, emu, token, 1)
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.startswith("<html>")
    assert "502 Bad Gateway" in answer.text
    assert emu.balance(token) == 0


# -- faults that lose the answer ------------------------------------------------------------------


async def test_refuse_is_a_connect_error(emu: Emulator, token: str) -> None:
    emu.inject(Fault.refuse())
    async with connect(emu) as client:
        with pytest.raises(httpx.ConnectError):
            await add(client, emu, token, 1)
    assert credit_adds(emu) == []


async def test_drop_loses_the_request(emu: Emulator, token: str) -> None:
    emu.inject(Fault.drop())
    async with connect(emu) as client:
        with pytest.raises(
            httpx.RemoteProtocolError, match=r"^Server disconnected without sending a response\.$"
        ):
            await add(client, emu, token, 1)
        assert (await add(client, emu, token, 2)).json()["success"] is True
    assert credit_adds(emu) == [2]


async def test_apply_then_drop_applies_once(emu: Emulator, token: str) -> None:
    emu.inject(Fault.apply_then_drop())
    async with connect(emu) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await add(client, emu, token, "1.5")
    assert credit_adds(emu) == [Decimal("1.5")]
    assert emu.balance(token) == Decimal("1.5")


async def test_apply_then_stall_becomes_a_read_timeout(emu: Emulator, token: str) -> None:
    emu.inject(Fault.apply_then_stall(60))
    async with connect(emu, timeout=0.05) as client:
        with pytest.raises(httpx.ReadTimeout):
            await add(client, emu, token, 3)
    assert credit_adds(emu) == [3]
    assert emu.total_money() == 10_000


async def test_a_short_stall_answers_late(emu: Emulator, token: str) -> None:
    emu.inject(Fault.apply_then_stall(0.01))
    async with connect(emu, timeout=None) as client:
        answer = await add(client, emu, token, 3)
    assert answer.json()["subaccountCredit"] == 3.0
    assert credit_adds(emu) == [3]


async def test_latency_counts_against_the_read_timeout(emu: Emulator, token: str) -> None:
    emu.latency = 60
    async with connect(emu, timeout=0.05) as client:
        with pytest.raises(httpx.ReadTimeout):
            await add(client, emu, token, 1)
    # Cancelled while waiting, before the handler ran: nothing applied.
    assert credit_adds(emu) == []
    assert len(emu.requests) == 1


async def test_small_latency_still_answers() -> None:
    emu = Emulator(latency=0.001)
    async with connect(emu) as client:
        assert (await me(client, emu)).json()["success"] is True


# -- choosing which requests fail -----------------------------------------------------------------


async def test_endpoint_filter_and_times(emu: Emulator, token: str) -> None:
    emu.inject(Fault.status(503), endpoint="subaccount/credit/add", times=2)
    assert emu.pending_faults == 2
    async with connect(emu) as client:
        assert (await me(client, emu)).status_code == 200
        assert (await add(client, emu, token, 1)).status_code == 503
        assert emu.pending_faults == 1
        assert (await add(client, emu, token, 1)).status_code == 503
        assert (await add(client, emu, token, 1)).status_code == 200
    assert emu.pending_faults == 0


async def test_queued_faults_are_used_in_order(emu: Emulator) -> None:
    emu.inject(Fault.status(500), endpoint="subaccount/list")
    emu.inject(Fault.status(502))
    emu.inject(Fault.status(503), endpoint="me")
    async with connect(emu) as client:
        assert (await me(client, emu)).status_code == 502
        assert (await me(client, emu)).status_code == 503
        listed = await client.get("subaccount/list", params={"apiKey": emu.api_key})
        assert listed.status_code == 500


@pytest.mark.parametrize(
    "name", ["subaccount/remove", "/v1/subaccount/delete", "subaccount/delete"]
)
async def test_delete_aliases_share_faults(emu: Emulator, token: str, name: str) -> None:
    emu.inject(Fault.status(503), endpoint=name, times=2)
    async with connect(emu) as client:
        for path in ("subaccount/delete", "subaccount/remove"):
            answer = await client.request(
                "DELETE", path, json={"apiKey": emu.api_key, "token": token}
            )
            assert answer.status_code == 503


async def test_unrouted_requests_do_not_consume_faults(emu: Emulator) -> None:
    emu.inject(Fault.drop())
    async with connect(emu) as client:
        assert (await client.get("nowhere")).status_code == 404
        assert (await client.post("me")).status_code == 405
        assert emu.pending_faults == 1
        with pytest.raises(httpx.RemoteProtocolError):
            await me(client, emu)


async def test_reset_faults(emu: Emulator) -> None:
    emu.inject(Fault.drop(), times=3)
    emu.inject_randomly(1.0)
    emu.reset_faults()
    assert emu.pending_faults == 0
    async with connect(emu) as client:
        assert (await me(client, emu)).status_code == 200


def test_fault_arguments_are_checked(emu: Emulator) -> None:
    with pytest.raises(ValueError, match=r"400\.\.599"):
        Fault.status(200)
    with pytest.raises(ValueError, match=r"400\.\.599"):
        Fault.html(302)
    with pytest.raises(ValueError, match="retry_after"):
        Fault.status(429, retry_after=-1)
    for seconds in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="seconds"):
            Fault.apply_then_stall(seconds)
    with pytest.raises(ValueError, match="times"):
        emu.inject(Fault.drop(), times=0)
    with pytest.raises(ValueError, match="unknown endpoint"):
        emu.inject(Fault.drop(), endpoint="subaccount/credit")
    with pytest.raises(ValueError, match="rate"):
        emu.inject_randomly(1.5)
    with pytest.raises(ValueError, match="empty"):
        emu.inject_randomly(0.5, faults=[])


def test_which_faults_apply() -> None:
    assert [f.applies for f in (Fault.apply_then_drop(), Fault.apply_then_stall(1))] == [True] * 2
    assert not any(f.applies for f in (Fault.status(), Fault.html(), Fault.drop(), Fault.refuse()))


# -- random faults ---------------------------------------------------------------------------------


async def _fault_sequence(seed: int, rate: float) -> list[Fault | None]:
    emu = Emulator(seed=seed)
    emu.inject_randomly(rate, faults=[Fault.status(500), Fault.status(503)])
    async with connect(emu) as client:
        for _ in range(40):
            await me(client, emu)
    return [r.fault for r in emu.requests]


async def test_random_faults_follow_the_seed() -> None:
    first = await _fault_sequence(seed=3, rate=0.5)
    assert first == await _fault_sequence(seed=3, rate=0.5)
    assert first != await _fault_sequence(seed=4, rate=0.5)
    assert {f.status_code for f in first if f is not None} == {500, 503}
    assert 0 < first.count(None) < 40


async def test_random_rate_bounds() -> None:
    assert set(await _fault_sequence(seed=0, rate=0.0)) == {None}
    assert None not in await _fault_sequence(seed=0, rate=1.0)


async def test_random_faults_do_not_change_tokens() -> None:
    quiet, noisy = Emulator(seed=5), Emulator(seed=5)
    noisy.inject_randomly(1.0, faults=[Fault.status(503)])
    async with connect(noisy) as client:
        await me(client, noisy)
    assert quiet.seed_subaccounts(2) == noisy.seed_subaccounts(2)


async def test_random_faults_respect_the_endpoint(emu: Emulator, token: str) -> None:
    emu.inject_randomly(1.0, faults=[Fault.status(503)], endpoint="subaccount/credit/add")
    async with connect(emu) as client:
        assert (await me(client, emu)).status_code == 200
        assert (await add(client, emu, token, 1)).status_code == 503


# -- the ledger under load ------------------------------------------------------------------------


@pytest.mark.parametrize("with_faults", [False, True])
async def test_concurrent_transfers_never_create_or_lose_money(with_faults: bool) -> None:
    # A little latency makes the 200 requests overlap inside the emulator.
    emu = Emulator(main_balance="500", seed=11, latency=0.001)
    tokens = emu.seed_subaccounts(8, balance="5")
    if with_faults:
        emu.inject_randomly(0.3)  # the default mix, including apply_then_drop
    initial = emu.total_money()
    rng = random.Random(7)
    jobs = [
        (
            rng.choice(["add", "remove"]),
            rng.choice(tokens),
            str(Decimal(rng.randrange(1, 5000)) / 1000),
        )
        for _ in range(200)
    ]
    outcomes: Counter[str] = Counter()
    answered: list[tuple[str, str, Decimal]] = []

    async with connect(emu) as client:

        async def run(kind: str, token: str, amount: str) -> None:
            body = {"apiKey": emu.api_key, "credit": amount, "tokenSubaccount": token}
            try:
                answer = await client.post(f"subaccount/credit/{kind}", json=body)
            except httpx.TransportError as exc:
                outcomes[type(exc).__name__] += 1
                return
            if answer.status_code != 200:
                outcomes[f"http-{answer.status_code}"] += 1
                return
            payload = answer.json()
            outcomes[f"code-{payload['code']}"] += 1
            if payload["success"]:
                answered.append((kind, token, Decimal(amount)))
            else:
                assert payload["code"] == 8  # insufficient credit is the only legal refusal

        async with anyio.create_task_group() as group:
            for job in jobs:
                group.start_soon(run, *job)

    assert emu.total_money() == initial
    assert sum(outcomes.values()) == 200
    moves = [t for t in emu.transfers if t.operation != "seed"]
    # Everything answered as applied was applied exactly once; with faults, some more were
    # applied whose answers were lost (apply_then_drop), and never the other way round.
    applied = Counter((t.operation.rsplit("/", 1)[1], t.token, t.amount) for t in moves)
    assert not Counter(answered) - applied
    lost = sum((applied - Counter(answered)).values())
    # An apply_then_drop on a refused transfer (code 8) loses an answer but applies nothing.
    assert lost <= sum(1 for r in emu.requests if r.fault == Fault.apply_then_drop())
    for token in tokens:
        expected = Decimal(5) + sum(
            (t.amount if t.direction == "to_subaccount" else -t.amount)
            for t in moves
            if t.token == token
        )
        assert emu.balance(token) == expected >= 0
    assert emu.main_balance >= 0
    if with_faults:
        assert len(outcomes) > 2
    else:
        assert lost == 0
