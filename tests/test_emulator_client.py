"""The library's own client against the emulator, in-process and served."""

from __future__ import annotations

import inspect
from decimal import Decimal

import pytest

import smspartner_async as sp
from smspartner_async.testing import Emulator, Fault, served

pytestmark = pytest.mark.anyio

NO_WAIT = sp.RetryPolicy(initial_delay=0, max_delay=0, jitter=False)


DELETE_MODES = pytest.mark.parametrize(
    "delete_paths",
    [("subaccount/delete",), ("subaccount/remove",), ("subaccount/delete", "subaccount/remove")],
    ids=["delete", "remove", "both"],
)


@DELETE_MODES
async def test_client_round_trip(delete_paths: tuple[str, ...]) -> None:
    emu = Emulator(main_balance="100", delete_paths=delete_paths)
    async with emu.client(retry=NO_WAIT) as client:
        created = await client.subaccounts.create(
            "advanced", email="a@b.fr", is_buyer=False, credit_to_attribute=Decimal("10")
        )
        transfer = await client.subaccounts.add_credit(created.token, "2.5")
        rows = [sub async for sub in client.subaccounts.list()]
        info = await client.account()
        await client.subaccounts.delete(created.token)
    assert transfer.subaccount_balance == Decimal("12.5")
    assert transfer.account_balance == Decimal("87.5")
    assert [row.token for row in rows] == [created.token]
    assert info.balance == Decimal("87.5")
    assert emu.subaccounts == []
    assert emu.main_balance == 100


async def test_client_sees_a_stall_as_an_unknown_outcome() -> None:
    emu = Emulator()
    [token] = emu.seed_subaccounts(1)
    emu.inject(Fault.apply_then_stall(30), endpoint="subaccount/credit/add")
    async with emu.client(timeout=0.05, retry=NO_WAIT) as client:
        with pytest.raises(sp.OutcomeUnknownError):
            await client.subaccounts.add_credit(token, "5")
    # Applied once, never retried blindly.
    assert [t.amount for t in emu.transfers if t.operation != "seed"] == [5]
    assert len(emu.requests) == 1


async def test_client_retries_a_refused_connection_once_applied() -> None:
    emu = Emulator()
    [token] = emu.seed_subaccounts(1)
    emu.inject(Fault.refuse())
    async with emu.client(retry=NO_WAIT) as client:
        transfer = await client.subaccounts.add_credit(token, "5")
    assert transfer.subaccount_balance == 5
    assert [r.fault for r in emu.requests] == [Fault.refuse(), None]


async def test_client_maps_errors_with_either_status() -> None:
    for status in (200, 400):
        emu = Emulator(error_status=status)
        async with emu.client(retry=NO_WAIT) as client:
            with pytest.raises(sp.NotFoundError) as caught:
                await client.subaccounts.add_credit("unknown", "1")
        assert caught.value.status_code == status
        assert caught.value.code == 7


async def test_client_against_served_emulator() -> None:
    emu = Emulator()
    [token] = emu.seed_subaccounts(1)
    emu.inject(Fault.drop(), endpoint="subaccount/credit/add")
    async with (
        served(emu, port=0) as base_url,
        sp.AsyncSMSPartner(emu.api_key, base_url=base_url, retry=NO_WAIT) as client,
    ):
        with pytest.raises(sp.OutcomeUnknownError) as caught:
            await client.subaccounts.add_credit(token, "1")
        assert isinstance(caught.value.__cause__, sp.APIConnectionError)
        assert (await client.account()).balance == 10_000
    assert emu.balance(token) == 0


@DELETE_MODES
async def test_client_deletes_through_a_served_emulator(delete_paths: tuple[str, ...]) -> None:
    emu = Emulator(delete_paths=delete_paths)
    tokens = emu.seed_subaccounts(2)
    async with (
        served(emu, port=0) as base_url,
        sp.AsyncSMSPartner(emu.api_key, base_url=base_url, retry=NO_WAIT) as client,
    ):
        for token in tokens:
            await client.subaccounts.delete(token)
    assert emu.subaccounts == []
    tried = [r.path.removeprefix("/v1/") for r in emu.requests]
    assert tried[-1] in delete_paths
    assert len(tried) == (3 if delete_paths == ("subaccount/remove",) else 2)


def test_client_keeps_the_emulator_key_out_of_reprs() -> None:
    emu = Emulator()
    client = emu.client()
    assert isinstance(client, sp.AsyncSMSPartner)
    assert emu.api_key not in repr(client)


def test_client_takes_the_clients_own_options_by_name() -> None:
    # A typed signature, not **kwargs: `emulator.client(timout=1.0)` fails the type check.
    ours = dict(inspect.signature(Emulator.client).parameters)
    del ours["self"]
    theirs = inspect.signature(sp.AsyncSMSPartner).parameters
    assert set(ours) == set(theirs) - {"http_client", "transport", "proxy"}
    for name, parameter in ours.items():
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert parameter.annotation == theirs[name].annotation, name
        if name not in ("api_key", "base_url"):
            assert parameter.default == theirs[name].default, name
    with pytest.raises(TypeError, match="timout"):
        Emulator().client(timout=1.0)  # type: ignore[call-arg]


async def test_client_passes_its_options_on() -> None:
    emulator = Emulator(api_key="emulator-key")
    policy = sp.RetryPolicy(max_attempts=1)
    async with emulator.client(timeout=2.5, retry=policy, max_connections=3) as client:
        assert client.retry is policy
        await client.account()
    assert [r.query.get("apiKey") for r in emulator.requests] == ["emulator-key"]
