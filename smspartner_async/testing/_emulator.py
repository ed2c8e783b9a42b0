"""The emulator: an ASGI application that plays the SMS Partner sub-account API in memory."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Awaitable, Callable, Collection, MutableMapping, Sequence
from decimal import Decimal
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, Final, NoReturn, cast
from urllib.parse import parse_qsl

import anyio

from smspartner_async.testing._endpoints import HANDLERS, Account, Params, Refusal
from smspartner_async.testing._faults import Fault, FaultPlan
from smspartner_async.testing._ledger import (
    CENTS,
    EmulatedSubaccount,
    Ledger,
    SubaccountType,
    Transfer,
)
from smspartner_async.testing._records import RecordedRequest

if TYPE_CHECKING:
    import httpx

    from smspartner_async import AsyncSMSPartner, RetryPolicy

__all__ = ["ConnectionDropped", "ConnectionRefused", "Emulator"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_PREFIX: Final = "/v1/"
#: Where ``Emulator.client`` points its client unless told otherwise: never resolved.
_PLACEHOLDER_URL: Final = "https://emulator.smspartner.invalid/v1/"
#: The two paths the docs give the delete operation (see ``Emulator(delete_paths=...)``).
DELETE_PATHS: Final = ("subaccount/delete", "subaccount/remove")
_ROUTES: Final = {
    f"{_PREFIX}subaccount/create": "subaccount/create",
    f"{_PREFIX}subaccount/list": "subaccount/list",
    f"{_PREFIX}subaccount/credit/add": "subaccount/credit/add",
    f"{_PREFIX}subaccount/credit/remove": "subaccount/credit/remove",
    **{f"{_PREFIX}{path}": "subaccount/delete" for path in DELETE_PATHS},
    f"{_PREFIX}me": "me",
}


class ConnectionDropped(Exception):  # noqa: N818 - named after what the client sees
    """Raised by the app to drop the connection; the transport turns it into an httpx error."""


class ConnectionRefused(ConnectionDropped):
    """Raised by the app for :meth:`Fault.refuse`; in-process it becomes ``httpx.ConnectError``."""


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def _validated_status(status: int) -> int:
    if status != 200 and not 400 <= status <= 499:
        raise ValueError(f"error_status must be 200 or a 4xx status, got {status}")
    return status


def _validated_delete_paths(paths: Collection[str]) -> frozenset[str]:
    if isinstance(paths, str):
        paths = (paths,)
    chosen = frozenset(path.strip("/").removeprefix("v1/") for path in paths)
    if not chosen or not chosen <= set(DELETE_PATHS):
        raise ValueError(f"delete_paths must be one or both of {DELETE_PATHS}, got {paths!r}")
    return chosen


def _validated_latency(seconds: float) -> float:
    if not seconds >= 0:
        raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
    return seconds


def _exact(amount: Decimal | int | str, what: str) -> Decimal:
    value = Decimal(amount)
    if not value.is_finite() or value < 0 or value != value.quantize(CENTS):
        raise ValueError(f"{what} must be a finite amount >= 0 with at most 3 decimals")
    return value.quantize(CENTS)


class Emulator:
    """An in-memory SMS Partner sub-account API, as a plain ASGI 3 application.

    Serve it in-process with
    [`EmulatorTransport`][smspartner_async.testing.EmulatorTransport] (or [`client`][]), or
    over real HTTP with [`served`][smspartner_async.testing.served]. It keeps a ledger that
    never creates or loses money, logs every request, and fails on demand with scripted
    [faults][smspartner_async.testing.Fault]:

    ```python
    emulator = Emulator(main_balance=Decimal("100"))
    [token] = emulator.seed_subaccounts(1)
    emulator.inject(Fault.apply_then_stall(5), endpoint="subaccount/credit/add")
    async with emulator.client(timeout=0.5) as client:
        ...  # add_credit times out, yet emulator.balance(token) shows the credit
    ```

    Error answers use HTTP ``error_status`` (200 or 4xx, like the real API). A body that is
    not a JSON object gets HTTP 400 with the docs' "malformed JSON" code 90. A request no
    route matches (an unknown path: 404; a wrong method: 405) gets what a web framework
    answers, not the API's JSON: ``{"code": 404, "message": "No route found ..."}``, without
    ``success``.

    The docs give delete two paths; ``delete_paths`` says which this server routes:
    ``("subaccount/delete",)``, ``("subaccount/remove",)`` or both (the default). The other
    one is then a routing miss.

    Only the main account's ``api_key`` is accepted; sub-account keys answer code 10.
    ``error_status``, ``latency``, ``subaccounts_enabled`` and ``delete_paths`` may be changed
    at any time.
    """

    DEFAULT_API_KEY: ClassVar[str] = "emulator-api-key"
    """The main account's API key unless another is given."""
    USERNAME: ClassVar[str] = "owner@emulator.invalid"
    """The identity ``me`` reports and ``create`` names as ``parent_email``."""
    DEFAULT_RANDOM_FAULTS: ClassVar[tuple[Fault, ...]] = (
        Fault.status(429, retry_after=0),
        Fault.status(503),
        Fault.html(502),
        Fault.drop(),
        Fault.apply_then_drop(),
    )
    """Faults [`inject_randomly`][] draws from unless told otherwise."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        main_balance: Decimal | int | str = Decimal("10000"),
        error_status: int = 200,
        latency: float = 0.0,
        subaccounts_enabled: bool = True,
        delete_paths: Collection[str] = DELETE_PATHS,
        seed: int = 0,
    ) -> None:
        """Create an emulator whose main account holds *main_balance* euros.

        *seed* makes tokens, keys, generated e-mails and random faults reproducible.
        """
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._api_key = api_key
        self._error_status = _validated_status(error_status)
        self._latency = _validated_latency(latency)
        self.subaccounts_enabled = subaccounts_enabled
        """False: ``create`` answers code 2 and credit operations code 4, as before activation."""
        self._delete_paths = _validated_delete_paths(delete_paths)
        # Handlers never await, so a thread lock is enough to make each one atomic, and unlike
        # an anyio.Lock it also guards a served emulator (its own thread) and the test's reads.
        self._lock = threading.Lock()
        self._ledger = Ledger(
            main_balance=_exact(main_balance, "main_balance"),
            rng=random.Random(seed),  # noqa: S311 - reproducible test data, not secrets
        )
        # A separate generator keeps tokens identical whether or not random faults are on.
        self._faults = FaultPlan(random.Random(f"faults:{seed}"))  # noqa: S311
        self._requests: list[RecordedRequest] = []

    def __repr__(self) -> str:
        with self._lock:
            subaccounts, requests = len(self._ledger.subaccounts), len(self._requests)
            balance = self._ledger.main_balance
        return f"<Emulator main_balance={balance} subaccounts={subaccounts} requests={requests}>"

    # -- settings -----------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The main account's API key, the only one the emulator accepts."""
        return self._api_key

    @property
    def error_status(self) -> int:
        """HTTP status of ``success: false`` answers: 200 or a 4xx status."""
        return self._error_status

    @error_status.setter
    def error_status(self, status: int) -> None:
        self._error_status = _validated_status(status)

    @property
    def delete_paths(self) -> frozenset[str]:
        """The delete paths this server routes: ``subaccount/delete``, ``subaccount/remove``."""
        return self._delete_paths

    @delete_paths.setter
    def delete_paths(self, paths: Collection[str]) -> None:
        self._delete_paths = _validated_delete_paths(paths)

    @property
    def latency(self) -> float:
        """Seconds every request waits before being handled."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = _validated_latency(seconds)

    # -- the ledger, from the test's side -----------------------------------------------------

    @property
    def main_balance(self) -> Decimal:
        """The main account's balance in euros."""
        with self._lock:
            return self._ledger.main_balance

    def balance(self, token: str) -> Decimal:
        """The balance of sub-account *token*; ``KeyError`` if it does not exist."""
        with self._lock:
            return self._ledger.subaccounts[token].balance

    @property
    def subaccounts(self) -> list[EmulatedSubaccount]:
        """A snapshot of the existing sub-accounts, oldest first."""
        with self._lock:
            return list(self._ledger.subaccounts.values())  # creation order is id order

    def total_money(self) -> Decimal:
        """Main balance plus all sub-account balances; no operation ever changes it."""
        with self._lock:
            return self._ledger.total()

    @property
    def transfers(self) -> list[Transfer]:
        """Every money movement applied so far, in order."""
        with self._lock:
            return list(self._ledger.transfers)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def seed_subaccounts(
        self,
        n: int,
        *,
        balance: Decimal | int | str = Decimal("0"),
        type: SubaccountType = "simple",
    ) -> list[str]:
        """Create *n* sub-accounts directly and return their tokens.

        Each one's *balance* is taken from the main account (logged as ``"seed"`` transfers),
        so [`total_money`][] is unchanged; ``ValueError`` if the main account is short.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        amount = _exact(balance, "balance")
        with self._lock:
            if amount * n > self._ledger.main_balance:
                raise ValueError(
                    f"the main account holds {self._ledger.main_balance}, "
                    f"not enough to seed {n} sub-accounts with {amount} each"
                )
            return [
                self._ledger.open(
                    type=type,
                    email=self._ledger.generated_email(),
                    credit=amount,
                    operation="seed",
                    is_buyer=False,
                ).token
                for _ in range(n)
            ]

    # -- faults -------------------------------------------------------------------------------

    def inject(self, fault: Fault, *, endpoint: str | None = None, times: int = 1) -> None:
        """Apply *fault* to the next *times* requests to *endpoint* (None: any endpoint).

        *endpoint* is an operation name such as ``"subaccount/credit/add"``. Queued faults are
        consumed in order and take precedence over random ones. Requests to unknown paths or
        with a wrong method never consume a fault.
        """
        with self._lock:
            self._faults.inject(fault, endpoint=endpoint, times=times)

    def inject_randomly(
        self,
        rate: float = 0.1,
        *,
        faults: Sequence[Fault] | None = None,
        endpoint: str | None = None,
    ) -> None:
        """Fail about *rate* of the requests (to *endpoint*, or all) with a random fault.

        The draws come from the emulator's seeded generator, so a soak test is reproducible
        for a given request order. Calling this again replaces the previous setting;
        ``rate=0`` turns it off. *faults* defaults to [`DEFAULT_RANDOM_FAULTS`][].
        """
        with self._lock:
            self._faults.inject_randomly(
                rate, self.DEFAULT_RANDOM_FAULTS if faults is None else faults, endpoint
            )

    def reset_faults(self) -> None:
        """Forget queued faults and switch random faults off."""
        with self._lock:
            self._faults.reset()

    @property
    def pending_faults(self) -> int:
        """How many queued fault injections have not been used yet."""
        with self._lock:
            return self._faults.pending

    # -- client -------------------------------------------------------------------------------

    def client(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        max_rate: int | None = None,
    ) -> AsyncSMSPartner:
        """Return an ``AsyncSMSPartner`` talking to this emulator in-process, without sockets.

        The arguments are the client's own, see
        [`AsyncSMSPartner`][smspartner_async.AsyncSMSPartner];
        ``api_key`` defaults to this emulator's key and ``base_url`` to a placeholder host that
        is never resolved (not to ``SMSPARTNER_BASE_URL``).
        """
        # Imported here: the library never imports its testing package, and we import it
        # only when asked, so the emulator stays usable while the client is broken.
        from smspartner_async import AsyncSMSPartner  # noqa: PLC0415
        from smspartner_async.testing._transport import EmulatorTransport  # noqa: PLC0415

        return AsyncSMSPartner(
            api_key if api_key is not None else self._api_key,
            base_url=base_url if base_url is not None else _PLACEHOLDER_URL,
            timeout=timeout,
            retry=retry,
            max_connections=max_connections,
            max_rate=max_rate,
            transport=EmulatorTransport(self),
        )

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection (``http`` or ``lifespan``)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"the emulator speaks HTTP only, not {scope['type']!r}")
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before finishing its request
        request = self._record(scope, body)
        if self._latency:
            await anyio.sleep(self._latency)
        fault = request.fault
        if fault is not None and not fault.applies:
            await _send_fault(send, fault)
            return
        status, answer, headers = self._answer(request)
        if fault is not None and fault.kind == "apply_then_drop":
            await _drop(send, ConnectionDropped("scripted drop after applying"))
        if fault is not None and fault.kind == "apply_then_stall":
            with anyio.move_on_after(fault.stall_seconds):
                await _until_disconnected(receive)
                return  # nobody is left to answer
        await _send_json(send, status, answer, headers)

    def _record(self, scope: Scope, body: bytes) -> RecordedRequest:
        """Log the request, deciding on the way whether a fault applies to it."""
        method: str = scope["method"]
        path: str = scope["path"]
        raw_query = bytes(scope.get("query_string", b"")).decode("latin-1")
        endpoint = _ROUTES.get(path)
        if endpoint == "subaccount/delete" and path.removeprefix(_PREFIX) not in self._delete_paths:
            endpoint = None  # a documented path this server does not route
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        parsed = _parse_body(body) if method != "GET" else None
        with self._lock:
            fault = None
            if endpoint is not None and HANDLERS[endpoint][0] == method:
                fault = self._faults.take(endpoint)
            request = RecordedRequest(
                method=method, path=path, endpoint=endpoint, query=query, json=parsed, fault=fault
            )
            self._requests.append(request)
        return request

    def _answer(self, request: RecordedRequest) -> tuple[int, _Answer, list[_Header]]:
        """Run the request's handler, or say why the request cannot reach one."""
        route = f'"{request.method} {request.path}"'
        if request.endpoint is None:
            return 404, _routing_miss(404, f"No route found for {route}"), []
        method, handler = HANDLERS[request.endpoint]
        if request.method != method:
            problem = _routing_miss(405, f"No route found for {route}: Method Not Allowed")
            return 405, problem, [(b"allow", method.encode())]
        body: object = request.json
        if method == "GET":
            params: Params = request.query
        elif isinstance(body, dict):
            params = cast("dict[str, object]", body)
        else:
            return 400, Refusal(90, "Malformed JSON: the body must be a JSON object.").body(), []
        account = Account(
            api_key=self._api_key,
            username=self.USERNAME,
            firstname="Emulated",
            lastname="Owner",
            currency="EUR",
            subaccounts_enabled=self.subaccounts_enabled,
        )
        with self._lock:
            try:
                return 200, handler(self._ledger, account, params), []
            except Refusal as refusal:
                return self._error_status, refusal.body(), []


_Answer = dict[str, object]
_Header = tuple[bytes, bytes]


def _parse_body(body: bytes) -> object:
    """The body as JSON (an empty body counts as ``{}``); None when it is not JSON."""
    if not body.strip():
        return {}
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:  # also covers JSONDecodeError and UnicodeDecodeError
        return None


def _protocol_error(status: int, message: str) -> dict[str, object]:
    return {"success": False, "code": status, "message": message}


def _routing_miss(status: int, message: str) -> dict[str, object]:
    """What a web framework answers when no route matches: JSON, but not the API's."""
    return {"code": status, "message": message}


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _send_json(
    send: Send,
    status: int,
    payload: dict[str, object],
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    await _send(send, status, b"application/json", body, extra_headers)


async def _send(
    send: Send,
    status: int,
    content_type: bytes,
    body: bytes,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_fault(send: Send, fault: Fault) -> None:
    if fault.kind == "refuse":
        await _drop(send, ConnectionRefused("scripted refusal"))
    if fault.kind == "drop":
        await _drop(send, ConnectionDropped("scripted drop"))
    status = fault.status_code or 503
    if fault.kind == "reply":
        await _send(send, status, b"application/json", fault.content)
        return
    if fault.kind == "html":
        title = f"{status} {_phrase(status)}"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        await _send(send, status, b"text/html; charset=utf-8", page.encode())
        return
    headers: list[tuple[bytes, bytes]] = []
    if fault.retry_after is not None:
        headers.append((b"retry-after", str(fault.retry_after).encode()))
    message = _protocol_error(status, f"Scripted failure: HTTP {status}.")
    await _send_json(send, status, message, headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _drop(send: Send, error: ConnectionDropped) -> NoReturn:
    # A server cannot hang up through ASGI. Announcing a body and then raising makes uvicorn
    # close the socket mid-answer; raising before the start would get a clean 500 instead.
    headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    raise error
