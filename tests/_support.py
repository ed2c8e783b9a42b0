"""Helpers shared by the core library's tests: a recording mock server and answer builders.

Every test talks to :class:`smspartner_async.AsyncSMSPartner` through ``httpx.MockTransport``;
nothing here touches the network.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

import smspartner_async as sp

#: The account key every test uses. It must never show up anywhere but on the wire.
CANARY = "CANARY-7f3a9c1e-KEY-d41d8cd98f00"
#: A sub-account's own key, as ``subaccount/list`` hands it back.
SUB_CANARY = "SUBCANARY-0b9e2a55-SUBKEY"
BASE_URL = "https://api.smspartner.test/v1/"

Handler = Callable[[httpx.Request], "httpx.Response | Awaitable[httpx.Response]"]


class Server:
    """A ``httpx.MockTransport`` handler that records every request it receives."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.closed = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.handler is None:
            raise AssertionError(f"unexpected request: {request.method} {request.url.path}")
        result = self.handler(request)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, httpx.Response)
        return result

    @property
    def count(self) -> int:
        return len(self.requests)

    def transport(self) -> httpx.MockTransport:
        server = self

        class _Transport(httpx.MockTransport):
            async def aclose(self) -> None:
                server.closed = True

        return _Transport(self)

    def client(self, **kwargs: Any) -> sp.AsyncSMSPartner:
        kwargs.setdefault("api_key", CANARY)
        kwargs.setdefault("base_url", BASE_URL)
        return sp.AsyncSMSPartner(transport=self.transport(), **kwargs)


def sequence(*responses: httpx.Response | BaseException) -> Handler:
    """A handler answering each request with the next item (raising it if an exception)."""
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        if not items:
            raise AssertionError("more requests than answers")
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, BaseException):
            raise item
        return item

    return handler


def always(response: httpx.Response | Callable[[], BaseException]) -> Handler:
    """A handler answering every request the same way (``response`` may build an exception)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, httpx.Response):
            return response
        raise response()

    return handler


def ok(status: int = 200, **fields: Any) -> httpx.Response:
    return httpx.Response(status, json={"success": True, "code": 200, **fields})


def fail(
    code: int | None, message: str | None = "refused", *, status: int = 200, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"success": False, **extra}
    if code is not None:
        body["code"] = code
    if message is not None:
        body["message"] = message
    return httpx.Response(status, json=body)


def raw(content: str | bytes, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=content, headers=headers)


def body_of(request: httpx.Request) -> dict[str, Any]:
    data = json.loads(request.content)
    assert isinstance(data, dict)
    return data


# -- answers of each endpoint -------------------------------------------------------------------


def row(ident: int, *, balance: str = "0.800") -> dict[str, Any]:
    return {
        "id": ident,
        "email": f"sub{ident}@example.com",
        "type": "simple",
        "token": f"tok{ident}",
        "apiKey": f"{SUB_CANARY}-{ident}",
        "createdAt": "2016-03-04 11:23:14",
        "credits": {"balance": balance, "currency": "EUR"},
    }


def page_answer(
    ids: Iterable[int], *, total: int, page: int = 1, per_page: int = 20
) -> httpx.Response:
    return ok(total=total, nb_per_page=per_page, page=page, data=[row(i) for i in ids])


def rows_server(n: int, *, per_page: int = 20) -> Handler:
    """A ``subaccount/list`` of ``n`` rows with ids 1..n, 20 a page."""

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        start = (page - 1) * per_page
        ids = range(start + 1, min(n, start + per_page) + 1)
        return page_answer(ids, total=n, page=page, per_page=per_page)

    return handler


CREATED = {
    "subaccount": {"email": "shop@example.com", "token": "newtoken123"},
    "sendConfirmMailTo": "shop@example.com",
    "parent_email": "parent@example.com",
}
TRANSFER = {"credit": 2869.2, "subaccountCredit": 61.8, "currency": "EUR"}
ME = {
    "user": {"username": "nda", "firstname": "Ada", "lastname": "Lovelace"},
    "credits": {
        "creditSms": 269082,
        "toSend": 0,
        "solde": "10225.119",
        "currency": "EUR",
        "balance": "10225.119",
    },
}


def answer_for(request: httpx.Request) -> httpx.Response:
    """A documented success answer for whichever endpoint ``request`` calls."""
    path = request.url.path.split("/v1/", 1)[1]
    if path == "subaccount/create":
        return ok(**CREATED)
    if path == "subaccount/list":
        return page_answer([1, 2], total=2)
    if path in ("subaccount/credit/add", "subaccount/credit/remove"):
        return ok(**TRANSFER)
    if path == "subaccount/delete":
        return ok()
    if path == "me":
        return ok(**ME)
    raise AssertionError(f"unknown path {path}")


#: One call per endpoint, for tests that run the same check over all of them.
Call = Callable[[sp.AsyncSMSPartner], Awaitable[object]]


async def _create(c: sp.AsyncSMSPartner) -> object:
    return await c.subaccounts.create("advanced", email="a@b.fr", is_buyer=False)


async def _list_page(c: sp.AsyncSMSPartner) -> object:
    return await c.subaccounts.list_page()


async def _list_all(c: sp.AsyncSMSPartner) -> object:
    return [s async for s in c.subaccounts.list()]


async def _add(c: sp.AsyncSMSPartner) -> object:
    return await c.subaccounts.add_credit("tok1", "25")


async def _remove(c: sp.AsyncSMSPartner) -> object:
    return await c.subaccounts.remove_credit("tok1", "2.5")


async def _delete(c: sp.AsyncSMSPartner) -> object:
    return await c.subaccounts.delete("tok1")


async def _account(c: sp.AsyncSMSPartner) -> object:
    return await c.account()


#: endpoint path -> a call to it
WRITES: dict[str, Call] = {
    "subaccount/create": _create,
    "subaccount/credit/add": _add,
    "subaccount/credit/remove": _remove,
    "subaccount/delete": _delete,
}
READS: dict[str, Call] = {
    "subaccount/list": _list_page,
    "me": _account,
}
ALL_CALLS: dict[str, Call] = {**WRITES, **READS}
LIST_ALL: Call = _list_all
