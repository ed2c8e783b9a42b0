"""The emulator against the wire protocol of SPEC section 1, driven through raw httpx."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

import smspartner_async.testing
from smspartner_async.testing import Emulator, EmulatorTransport

BASE_URL = "https://emulator.smspartner.invalid/v1/"
KEY = "<key>"
TOKEN = "<token>"

pytestmark = pytest.mark.anyio


@pytest.fixture
def emu() -> Emulator:
    return Emulator()


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(emu) as client:
        yield client


def connect(emu: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=EmulatorTransport(emu), base_url=BASE_URL)


def fill(value: Any, emu: Emulator, token: str) -> Any:
    """Replace the KEY and TOKEN placeholders of a request template."""
    if value == KEY:
        return emu.api_key
    if value == TOKEN:
        return token
    if isinstance(value, dict):
        return {k: fill(v, emu, token) for k, v in value.items()}
    return value


async def call(
    http: httpx.AsyncClient, method: str, path: str, params: dict[str, Any]
) -> httpx.Response:
    if method == "GET":
        return await http.get(path, params=params)
    return await http.request(method, path, json=params)


# -- success answers, one per row of the wire table ---------------------------------------------


async def test_create_simple_generates_an_email(emu: Emulator, http: httpx.AsyncClient) -> None:
    answer = await http.post("subaccount/create", json={"apiKey": emu.api_key, "type": "simple"})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"success", "code", "subaccount", "sendConfirmMailTo", "parent_email"}
    assert body["success"] is True
    assert body["code"] == 200
    assert re.fullmatch(r"\d{8}@smspartner\.fr", body["subaccount"]["email"])
    assert body["sendConfirmMailTo"] == body["subaccount"]["email"]
    assert body["parent_email"] == Emulator.USERNAME
    [sub] = emu.subaccounts
    assert sub.token == body["subaccount"]["token"]
    assert sub.type == "simple"
    assert sub.balance == 0
    assert emu.transfers == []


async def test_create_advanced_with_credit(emu: Emulator, http: httpx.AsyncClient) -> None:
    parameters = {
        "email": "aaaa@bbb.ccc",
        "creditToAttribute": 10,
        "isBuyer": 1,
        "title": "Shop",
        "firstname": "prenom",
        "lastname": "nom",
    }
    answer = await http.post(
        "subaccount/create",
        json={"apiKey": emu.api_key, "type": "advanced", "parameters": parameters},
    )
    body = answer.json()
    assert body["subaccount"]["email"] == "aaaa@bbb.ccc"
    [sub] = emu.subaccounts
    assert (sub.type, sub.is_buyer, sub.title, sub.firstname, sub.lastname) == (
        "advanced",
        True,
        "Shop",
        "prenom",
        "nom",
    )
    assert emu.balance(sub.token) == Decimal("10.000")
    assert emu.main_balance == Decimal("9990.000")
    [transfer] = emu.transfers
    assert transfer.operation == "subaccount/create"
    assert transfer.direction == "to_subaccount"


async def test_simple_subaccounts_never_buy(emu: Emulator, http: httpx.AsyncClient) -> None:
    parameters = {"isBuyer": 1}
    body = {"apiKey": emu.api_key, "type": "simple", "parameters": parameters}
    assert (await http.post("subaccount/create", json=body)).json()["success"] is True
    assert emu.subaccounts[0].is_buyer is False


async def test_list_pages() -> None:
    emu = Emulator()
    tokens = emu.seed_subaccounts(25, balance="0.8")
    async with connect(emu) as client:
        first = (await client.get("subaccount/list", params={"apiKey": emu.api_key})).json()
        second = (
            await client.get("subaccount/list", params={"apiKey": emu.api_key, "page": "2"})
        ).json()
        third = (
            await client.get("subaccount/list", params={"apiKey": emu.api_key, "page": 3})
        ).json()
    assert {k: first[k] for k in ("success", "code", "total", "nb_per_page", "page")} == {
        "success": True,
        "code": 200,
        "total": 25,
        "nb_per_page": 20,
        "page": 1,
    }
    assert (len(first["data"]), len(second["data"]), len(third["data"])) == (20, 5, 0)
    assert second["page"] == 2
    rows = first["data"] + second["data"]
    assert [row["token"] for row in rows] == tokens
    assert [row["id"] for row in rows] == list(range(1, 26))
    row = rows[0]
    assert set(row) == {"id", "email", "type", "token", "apiKey", "createdAt", "credits"}
    assert row["credits"] == {"balance": "0.800", "currency": "EUR"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["createdAt"])
    assert row["type"] == "simple"
    assert len({r["apiKey"] for r in rows} | {emu.api_key}) == 26


async def test_list_refuses_a_bad_page(emu: Emulator, http: httpx.AsyncClient) -> None:
    body = (await http.get("subaccount/list", params={"apiKey": emu.api_key, "page": "0"})).json()
    assert (body["success"], body["code"]) == (False, 400)


async def test_credit_add_and_remove_answer_numbers() -> None:
    emu = Emulator(main_balance="2931")
    [token] = emu.seed_subaccounts(1)
    async with connect(emu) as client:
        added = await client.post(
            "subaccount/credit/add",
            json={"apiKey": emu.api_key, "credit": "61.8", "tokenSubaccount": token},
        )
        assert added.json() == {
            "success": True,
            "code": 200,
            "credit": 2869.2,
            "subaccountCredit": 61.8,
            "currency": "EUR",
        }
        removed = await client.post(
            "subaccount/credit/remove",
            json={"apiKey": emu.api_key, "credit": 10, "tokenSubaccount": token},
        )
    assert removed.json()["credit"] == 2879.2
    assert removed.json()["subaccountCredit"] == 51.8
    assert emu.balance(token) == Decimal("51.800")
    assert [(t.direction, t.amount) for t in emu.transfers] == [
        ("to_subaccount", Decimal("61.8")),
        ("to_main", Decimal("10")),
    ]


@pytest.mark.parametrize("amount", ["0.1", 0.1, "  0.1 ", "1e-1", "0.100"])
async def test_amounts_are_parsed_exactly(
    emu: Emulator, http: httpx.AsyncClient, amount: object
) -> None:
    [token] = emu.seed_subaccounts(1)
    for _ in range(3):
        body = {"apiKey": emu.api_key, "credit": amount, "tokenSubaccount": token}
        assert (await http.post("subaccount/credit/add", json=body)).json()["success"] is True
    assert emu.balance(token) == Decimal("0.3")
    assert emu.main_balance == Decimal("9999.7")


@pytest.mark.parametrize("path", ["subaccount/delete", "subaccount/remove"])
async def test_delete_returns_the_balance(
    emu: Emulator, http: httpx.AsyncClient, path: str
) -> None:
    [token, other] = emu.seed_subaccounts(2, balance="12.5")
    answer = await http.request("DELETE", path, json={"apiKey": emu.api_key, "token": token})
    assert answer.json() == {"success": True, "code": 200}
    assert [sub.token for sub in emu.subaccounts] == [other]
    assert emu.main_balance == Decimal("9987.5")
    assert emu.transfers[-1].operation == "subaccount/delete"
    assert emu.transfers[-1].amount == Decimal("12.5")
    with pytest.raises(KeyError):
        emu.balance(token)


async def test_me() -> None:
    emu = Emulator(main_balance="10225.119")
    async with connect(emu) as client:
        body = (await client.get("me", params={"apiKey": emu.api_key})).json()
    assert body["success"] is True
    assert set(body["user"]) == {"username", "firstname", "lastname"}
    credits = body["credits"]
    assert set(credits) == {"creditSms", "toSend", "solde", "currency", "balance"}
    assert (credits["solde"], credits["balance"], credits["currency"]) == (
        "10225.119",
        "10225.119",
        "EUR",
    )
    assert isinstance(credits["creditSms"], int)
    assert credits["toSend"] == 0


# -- every documented error code, per endpoint --------------------------------------------------


class ErrorCase(NamedTuple):
    method: str
    path: str
    params: dict[str, Any]
    code: int
    element_id: str | None = None
    settings: dict[str, Any] = {}  # noqa: RUF012 - never mutated


CREATE = ("POST", "subaccount/create")
LIST = ("GET", "subaccount/list")
ADD = ("POST", "subaccount/credit/add")
REMOVE = ("POST", "subaccount/credit/remove")
DELETE = ("DELETE", "subaccount/delete")
ME = ("GET", "me")


def _credit(amount: object) -> dict[str, Any]:
    return {"apiKey": KEY, "credit": amount, "tokenSubaccount": TOKEN}


def _advanced(**parameters: Any) -> dict[str, Any]:
    return {"apiKey": KEY, "type": "advanced", "parameters": parameters}


ERROR_CASES = {
    "create-1-no-key": ErrorCase(*CREATE, {"type": "simple"}, 1),
    "create-1-empty-key": ErrorCase(*CREATE, {"apiKey": "", "type": "simple"}, 1),
    "create-10-wrong-key": ErrorCase(*CREATE, {"apiKey": "nope", "type": "simple"}, 10),
    "create-2-not-activated": ErrorCase(
        *CREATE, {"apiKey": KEY, "type": "simple"}, 2, settings={"subaccounts_enabled": False}
    ),
    "create-3-no-isbuyer": ErrorCase(*CREATE, _advanced(email="a@b.fr"), 3, "isBuyer"),
    "create-3-bad-isbuyer": ErrorCase(*CREATE, _advanced(email="a@b.fr", isBuyer=7), 3, "isBuyer"),
    "create-4-no-type": ErrorCase(*CREATE, {"apiKey": KEY}, 4, "type"),
    "create-5-unknown-type": ErrorCase(*CREATE, {"apiKey": KEY, "type": "premium"}, 5, "type"),
    "create-6-no-email": ErrorCase(*CREATE, _advanced(isBuyer=0), 6, "email"),
    "create-6-bad-email": ErrorCase(*CREATE, _advanced(email="nope", isBuyer=0), 6, "email"),
    "create-6-bad-simple-email": ErrorCase(
        *CREATE, {"apiKey": KEY, "type": "simple", "parameters": {"email": "a@"}}, 6, "email"
    ),
    "create-7-duplicate": ErrorCase(*CREATE, _advanced(email="TAKEN@x.fr", isBuyer=0), 7),
    "create-8-zero": ErrorCase(
        *CREATE, _advanced(email="a@b.fr", isBuyer=0, creditToAttribute=0), 8, "creditToAttribute"
    ),
    "create-8-too-precise": ErrorCase(
        *CREATE,
        _advanced(email="a@b.fr", isBuyer=0, creditToAttribute="1.0001"),
        8,
        "creditToAttribute",
    ),
    "create-9-empty-main": ErrorCase(
        *CREATE,
        _advanced(email="a@b.fr", isBuyer=0, creditToAttribute=5),
        9,
        settings={"main_balance": 0},
    ),
    "create-9-short-main": ErrorCase(
        *CREATE,
        _advanced(email="a@b.fr", isBuyer=0, creditToAttribute="5.001"),
        9,
        settings={"main_balance": 5},
    ),
    "create-400-parameters": ErrorCase(
        *CREATE, {"apiKey": KEY, "type": "simple", "parameters": [1]}, 400, "parameters"
    ),
    "list-1": ErrorCase(*LIST, {}, 1),
    "list-10": ErrorCase(*LIST, {"apiKey": "nope"}, 10),
    "me-1": ErrorCase(*ME, {"apiKey": ""}, 1),
    "me-10": ErrorCase(*ME, {"apiKey": "nope"}, 10),
    "delete-1-no-key": ErrorCase(*DELETE, {"token": TOKEN}, 1),
    "delete-1-no-token": ErrorCase(*DELETE, {"apiKey": KEY}, 1),
    "delete-10": ErrorCase(*DELETE, {"apiKey": "nope", "token": TOKEN}, 10),
    "delete-404": ErrorCase(*DELETE, {"apiKey": KEY, "token": "unknown"}, 404),
    "remove-path-404": ErrorCase("DELETE", "subaccount/remove", {"apiKey": KEY, "token": "x"}, 404),
}
for name, endpoint in (("add", ADD), ("remove", REMOVE)):
    ERROR_CASES |= {
        f"{name}-1": ErrorCase(*endpoint, {"credit": 1, "tokenSubaccount": TOKEN}, 1),
        f"{name}-10": ErrorCase(*endpoint, {**_credit(1), "apiKey": "nope"}, 10),
        f"{name}-4": ErrorCase(*endpoint, _credit(1), 4, settings={"subaccounts_enabled": False}),
        f"{name}-2": ErrorCase(*endpoint, {"apiKey": KEY, "tokenSubaccount": TOKEN}, 2),
        f"{name}-2-empty": ErrorCase(*endpoint, _credit(""), 2),
        f"{name}-3": ErrorCase(*endpoint, {"apiKey": KEY, "credit": 1}, 3),
        f"{name}-7": ErrorCase(*endpoint, {**_credit(1), "tokenSubaccount": "unknown"}, 7),
    }
    for amount in (0, "0", -5, "-0.5", "1.0001", "abc", "1,5", True, "NaN", "Infinity", [1]):
        ERROR_CASES[f"{name}-5-{amount!r}"] = ErrorCase(*endpoint, _credit(amount), 5)
ERROR_CASES |= {
    "add-6-empty-main": ErrorCase(*ADD, _credit(1), 6, settings={"main_balance": 0}),
    "add-8-short-main": ErrorCase(*ADD, _credit("3.001"), 8, settings={"main_balance": 3}),
    "remove-8-short-sub": ErrorCase(*REMOVE, _credit("2.001"), 8),
}


@pytest.mark.parametrize("error_status", [200, 400])
@pytest.mark.parametrize("case", ERROR_CASES.values(), ids=ERROR_CASES.keys())
async def test_error_codes(case: ErrorCase, error_status: int) -> None:
    emu = Emulator(error_status=error_status, **case.settings)
    # Every case has one sub-account holding 2 EUR, taken from the main account when it can be.
    funded = emu.main_balance >= 2
    [token] = emu.seed_subaccounts(1, balance=2 if funded else 0)
    emu.seed_subaccounts(0)
    if case.code == 7:
        await _create_taken_email(emu)
    before = (emu.total_money(), emu.transfers, emu.subaccounts)
    async with connect(emu) as client:
        answer = await call(client, case.method, case.path, fill(case.params, emu, token))
    assert answer.status_code == error_status
    body = answer.json()
    assert body["success"] is False
    assert body["code"] == case.code
    if case.element_id is None:
        assert set(body) == {"success", "code", "message"}
        assert isinstance(body["message"], str)
        assert body["message"]
    else:
        assert set(body) == {"success", "code", "error"}
        [error] = body["error"]
        assert error["elementId"] == case.element_id
        assert error["message"]
    assert (emu.total_money(), emu.transfers, emu.subaccounts) == before


async def _create_taken_email(emu: Emulator) -> None:
    async with connect(emu) as client:
        body = _advanced(email="taken@x.fr", isBuyer=0) | {"apiKey": emu.api_key}
        assert (await client.post("subaccount/create", json=body)).json()["success"] is True


async def test_subaccount_keys_are_not_accepted(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.seed_subaccounts(1)
    sub_key = emu.subaccounts[0].api_key
    assert (await http.get("me", params={"apiKey": sub_key})).json()["code"] == 10


async def test_disabled_subaccounts_still_list_and_delete(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    [token] = emu.seed_subaccounts(1)
    emu.subaccounts_enabled = False
    listed = (await http.get("subaccount/list", params={"apiKey": emu.api_key})).json()
    assert listed["total"] == 1
    deleted = await http.request(
        "DELETE", "subaccount/delete", json={"apiKey": emu.api_key, "token": token}
    )
    assert deleted.json()["success"] is True


# -- requests the API would not even route -------------------------------------------------------


async def test_unknown_path_is_a_frameworks_404_not_the_apis(http: httpx.AsyncClient) -> None:
    for path in ("subaccount/nope", "/v2/me", "/"):
        answer = await http.get(path)
        assert answer.status_code == 404
        assert answer.json()["code"] == 404
        assert "success" not in answer.json()  # not the API's own answer


async def test_wrong_method_is_a_json_405(emu: Emulator, http: httpx.AsyncClient) -> None:
    answer = await http.post("me", json={"apiKey": emu.api_key})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    assert answer.json()["code"] == 405
    assert "success" not in answer.json()
    answer = await http.post("subaccount/delete", json={"apiKey": emu.api_key})
    assert answer.headers["allow"] == "DELETE"


@pytest.mark.parametrize(
    "content", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"credit": NaN}']
)
async def test_bad_bodies_are_refused_not_crashed(
    emu: Emulator, http: httpx.AsyncClient, content: bytes
) -> None:
    answer = await http.post("subaccount/credit/add", content=content)
    assert answer.status_code == 400
    # The docs' global code for malformed JSON.
    assert answer.json() == {"success": False, "code": 90, "message": answer.json()["message"]}
    assert emu.transfers == []


async def test_empty_body_means_no_parameters(http: httpx.AsyncClient) -> None:
    answer = await http.post("subaccount/credit/add")
    assert answer.json()["code"] == 1


async def test_key_in_query_does_not_authenticate_a_post(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        "subaccount/create", params={"apiKey": emu.api_key}, json={"type": "simple"}
    )
    assert answer.json()["code"] == 1


# -- the ledger, seen from the test ---------------------------------------------------------------


def test_seed_subaccounts_takes_money_from_main() -> None:
    emu = Emulator(main_balance=100)
    tokens = emu.seed_subaccounts(3, balance="10.5", type="advanced")
    assert [emu.balance(t) for t in tokens] == [Decimal("10.5")] * 3
    assert emu.main_balance == Decimal("68.5")
    assert emu.total_money() == 100
    assert [t.operation for t in emu.transfers] == ["seed"] * 3
    assert {sub.type for sub in emu.subaccounts} == {"advanced"}
    with pytest.raises(ValueError, match="not enough"):
        emu.seed_subaccounts(7, balance=10)
    assert emu.total_money() == 100
    assert len(emu.subaccounts) == 3


def test_seeded_emulators_are_reproducible() -> None:
    assert Emulator(seed=1).seed_subaccounts(3) == Emulator(seed=1).seed_subaccounts(3)
    assert Emulator(seed=1).seed_subaccounts(3) != Emulator(seed=2).seed_subaccounts(3)
    emails = [sub.email for sub in _seeded(5).subaccounts]
    assert len(set(emails)) == 5


def _seeded(n: int) -> Emulator:
    emu = Emulator()
    emu.seed_subaccounts(n)
    return emu


@pytest.mark.parametrize(
    "settings",
    [
        {"error_status": 500},
        {"error_status": 302},
        {"latency": -1},
        {"main_balance": "1.0001"},
        {"main_balance": -1},
        {"main_balance": "NaN"},
        {"api_key": ""},
    ],
)
def test_constructor_checks_its_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies per setting
        Emulator(**settings)


def test_settings_can_change_later() -> None:
    emu = Emulator()
    emu.error_status = 422
    emu.latency = 0.5
    assert (emu.error_status, emu.latency) == (422, 0.5)
    with pytest.raises(ValueError, match="error_status"):
        emu.error_status = 503
    with pytest.raises(ValueError, match="latency"):
        emu.latency = float("nan")


def test_seed_checks_its_arguments() -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="n must be"):
        emu.seed_subaccounts(-1)
    with pytest.raises(ValueError, match="balance"):
        emu.seed_subaccounts(1, balance="0.0001")


# -- the request log and secrets ------------------------------------------------------------------


async def test_requests_are_logged_without_showing_keys(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    emu.api_key.encode()  # the key is a plain str, so "not in repr" below is meaningful
    await http.get("subaccount/list", params={"apiKey": emu.api_key, "page": "2"})
    await http.post("subaccount/credit/add", json={"apiKey": emu.api_key, "credit": 1.5})
    await http.get("nowhere")
    listed, added, lost = emu.requests
    assert (listed.method, listed.path, listed.endpoint) == (
        "GET",
        "/v1/subaccount/list",
        "subaccount/list",
    )
    assert dict(listed.query) == {"apiKey": emu.api_key, "page": "2"}
    assert listed.json is None
    assert added.json == {"apiKey": emu.api_key, "credit": Decimal("1.5")}
    assert lost.endpoint is None
    assert listed.fault is None
    emu.seed_subaccounts(1)
    shown = f"{emu.requests!r} {listed} {emu.subaccounts!r} {emu!r}"
    assert emu.api_key not in shown
    assert emu.subaccounts[0].api_key not in shown
    assert "'apiKey': '***'" in shown
    with pytest.raises(TypeError):
        listed.query["apiKey"] = "changed"  # type: ignore[index]


def test_public_names() -> None:
    names = smspartner_async.testing.__all__
    assert names == sorted(names)
    for name in names:
        value = getattr(smspartner_async.testing, name)
        # FaultKind is a Literal alias, which cannot carry a docstring.
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__doc__, name


PROBE = """
import sys

def test_pytest_started_without_the_library():
    assert not [name for name in sys.modules if name.startswith("smspartner_async")]

def test_the_fixture_brings_the_emulator(smspartner_emulator):
    assert type(smspartner_emulator).__module__ == "smspartner_async.testing._emulator"
"""


def test_the_pytest_plugin_imports_the_library_only_when_used(tmp_path: Path) -> None:
    # pytest loads the plugin in every project where the package is installed.
    (tmp_path / "test_probe.py").write_text(PROBE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout


def test_pytest_fixture(smspartner_emulator: Emulator) -> None:
    assert isinstance(smspartner_emulator, Emulator)
    assert smspartner_emulator.api_key == Emulator.DEFAULT_API_KEY
    assert smspartner_emulator.subaccounts == []
