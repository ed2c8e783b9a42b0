"""Real answers from public sources (``tests/fixtures/``), served as they were published.

Each one goes through a plain ``httpx.MockTransport`` and through the emulator (as a verbatim
reply), and must come out as the documented model or error. The emulator's own answers must
also have the shape of these real ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from _support import BASE_URL, CANARY, Server

import smspartner_async as sp
from smspartner_async.testing import Emulator, EmulatorTransport, Fault
from smspartner_async.testing._emulator import DELETE_PATHS

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff")]

FIXTURES = Path(__file__).parent / "fixtures"

Call = Callable[[sp.AsyncSMSPartner], Awaitable[object]]

CALLS: dict[str, Call] = {
    "subaccount/create": lambda c: c.subaccounts.create("simple"),
    "subaccount/list": lambda c: c.subaccounts.list_page(),
    "subaccount/credit/add": lambda c: c.subaccounts.add_credit("token1", "25"),
    "subaccount/credit/remove": lambda c: c.subaccounts.remove_credit("token1", "2.5"),
    "subaccount/delete": lambda c: c.subaccounts.delete("token1"),
    "me": lambda c: c.account(),
}


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@asynccontextmanager
async def _mock(content: bytes, status: int) -> AsyncIterator[sp.AsyncSMSPartner]:
    headers = {"Content-Type": "application/json"}
    server = Server(lambda _: httpx.Response(status, content=content, headers=headers))
    async with server.client() as client:
        yield client


@asynccontextmanager
async def _emulated(
    content: bytes, status: int, endpoint: str, delete_paths: tuple[str, ...] = DELETE_PATHS
) -> AsyncIterator[sp.AsyncSMSPartner]:
    emulator = Emulator(delete_paths=delete_paths)
    emulator.inject(Fault.reply(content, status_code=status), endpoint=endpoint)
    async with emulator.client() as client:
        yield client
    assert emulator.pending_faults == 0  # the answer really came from the emulator


SERVERS = {
    "mock": lambda content, status, _: _mock(content, status),
    "emulator": _emulated,
    # The emulator routing one delete path only: the client finds it, then gets the answer.
    "emulator-delete-only": partial(_emulated, delete_paths=("subaccount/delete",)),
    "emulator-remove-only": partial(_emulated, delete_paths=("subaccount/remove",)),
}


async def _serve(server: str, name: str, endpoint: str, status: int = 200) -> object:
    async with SERVERS[server](_fixture(name), status, endpoint) as client:
        return await CALLS[endpoint](client)


async def _refused(server: str, name: str, endpoint: str, status: int = 200) -> sp.APIError:
    with pytest.raises(sp.APIError) as info:
        await _serve(server, name, endpoint, status)
    return info.value


both = pytest.mark.parametrize("server", ["mock", "emulator"])
#: Delete's answers, served by each server and each delete routing of the emulator.
every = pytest.mark.parametrize("server", list(SERVERS))


@both
async def test_create_success(server: str) -> None:
    created = await _serve(server, "create_success.json", "subaccount/create")
    assert created == sp.CreatedSubaccount(
        email="aaaa@bbb.ccc",
        token="token",
        send_confirm_mail_to="aaaa@bbb.ccc",
        parent_email="emailparent@ddd.eee",
    )


@both
async def test_list_success_whose_total_disagrees_with_its_rows(server: str) -> None:
    page = await _serve(server, "list_success.json", "subaccount/list")
    assert isinstance(page, sp.SubaccountPage)
    assert (page.total, page.per_page, page.page, len(page.items)) == (29, 20, 1, 2)
    first, second = page.items
    assert first == sp.Subaccount(
        id=1,
        email="email1",
        type="simple",
        token="token1",
        api_key="ApiKey sous compte",
        created_at=datetime(2016, 3, 4, 11, 23, 14),
        credits=sp.Credits(Decimal("0.800"), "EUR"),
    )
    assert (second.id, second.token, second.email) == (2, "token2", "email2")
    assert second.credits.balance == Decimal("10.245")
    assert str(second.credits.balance) == "10.245"


@both
@pytest.mark.parametrize("endpoint", ["subaccount/credit/add", "subaccount/credit/remove"])
async def test_credit_success(server: str, endpoint: str) -> None:
    transfer = await _serve(server, "credit_success.json", endpoint)
    assert transfer == sp.CreditTransfer(Decimal("2869.2"), Decimal("61.8"), "EUR")


@every
async def test_delete_success(server: str) -> None:
    assert await _serve(server, "delete_success.json", "subaccount/delete") is None


@every
@pytest.mark.parametrize(
    ("name", "endpoint", "message"),
    [
        ("invalid_key_fr.json", "subaccount/create", "Clé API incorrecte"),
        ("invalid_key_fr.json", "subaccount/list", "Clé API incorrecte"),
        ("invalid_key_en.json", "subaccount/credit/remove", "Invalid API key"),
        ("delete_invalid_key_fr.json", "subaccount/delete", "Clef API incorrecte"),
    ],
)
async def test_invalid_key(server: str, name: str, endpoint: str, message: str) -> None:
    error = await _refused(server, name, endpoint)
    assert type(error) is sp.AuthenticationError
    if server == "emulator-remove-only" and endpoint == "subaccount/delete":
        endpoint = "subaccount/remove"  # where the answer came from
    assert (error.code, error.message, error.endpoint) == (10, message, endpoint)


@both
async def test_me_as_the_docs_print_it(server: str) -> None:
    info = await _serve(server, "me_docs.json", "me")
    assert info == sp.AccountInfo(
        username="exemple@email.com",
        firstname="John",
        lastname="Doe",
        balance=Decimal("10225.119"),
        currency="EUR",
        sms_credits=269082,
        sms_to_send=0,
    )


@both
async def test_me_as_the_real_api_answered_the_go_sdk(server: str) -> None:
    info = await _serve(server, "me_recorded_go_sdk.json", "me")
    assert info == sp.AccountInfo(
        username="example@gmail.com",
        firstname=None,
        lastname=None,
        balance=Decimal("0.900"),
        currency="EUR",
        sms_credits=20,
        sms_to_send=0,
    )


VALIDATION = {
    "validation_error_key.json": [
        ("children[message].data", "Le message est requis"),
        ("children[phoneNumbers].data", "Ce numero de telephone n'est pas valide (922264)"),
        ("children[sender].data", "L'emetteur ne peut pas etre plus long que 11 caracteres"),
    ],
    "validation_errors_key.json": [
        ("children[message].data", "Le message est requis"),
        ("children[phoneNumbers].data", "Ce numero de telephone n'est pas valide (922264)"),
    ],
}


@both
@pytest.mark.parametrize("status", [400, 200])
@pytest.mark.parametrize("name", list(VALIDATION))
@pytest.mark.parametrize("endpoint", list(CALLS))
async def test_validation_answers_under_either_key(
    server: str, name: str, endpoint: str, status: int
) -> None:
    error = await _refused(server, name, endpoint, status)
    assert type(error) is sp.InvalidRequestError  # code 9 with a list, on every endpoint
    assert (error.code, error.status_code, error.endpoint) == (9, status, endpoint)
    expected = VALIDATION[name]
    assert error.details == tuple(sp.ErrorDetail(e, m) for e, m in expected)
    assert error.message == "; ".join(f"{e}: {m}" for e, m in expected)


# -- the emulator's own answers have the real answers' shape -------------------------------------


def _shape(value: Any) -> Any:
    """Keys and JSON types of an answer (the first item standing for every list item)."""
    if isinstance(value, dict):
        return {key: _shape(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _real(name: str) -> Any:
    return _shape(json.loads(_fixture(name)))


async def test_the_emulators_answers_have_the_real_shapes() -> None:
    emulator = Emulator()
    [token] = emulator.seed_subaccounts(1)
    transport = EmulatorTransport(emulator)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        key = {"apiKey": CANARY}

        async def answer(method: str, path: str, **fields: object) -> Any:
            if method == "GET":
                response = await http.get(path, params={**key, **fields})
            else:
                response = await http.request(method, path, json={**key, **fields})
            return _shape(response.json())

        params = {"email": "a@b.fr", "isBuyer": 0, "creditToAttribute": 10}
        created = await answer("POST", "subaccount/create", type="advanced", parameters=params)
        assert created == _real("create_success.json")
        assert await answer("GET", "subaccount/list") == _real("list_success.json")
        credit = {"credit": "5", "tokenSubaccount": token}
        assert await answer("POST", "subaccount/credit/add", **credit) == _real(
            "credit_success.json"
        )
        me = await answer("GET", "me")
        real_me = _real("me_docs.json")
        assert me["user"] == real_me["user"]
        # The docs' counters the emulator does not keep (creditSmsECO, creditHlr) aside.
        assert me["credits"].items() <= real_me["credits"].items()
        assert await answer("DELETE", "subaccount/delete", token=token) == _real(
            "delete_success.json"
        )
        refused = await answer("GET", "subaccount/list", apiKey="wrong")
        assert refused == _real("invalid_key_en.json")
