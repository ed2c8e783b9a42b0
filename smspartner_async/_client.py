"""``AsyncSMSPartner``: configuration, lifecycle, and the one request pipeline every call takes.

resource method -> validate input -> :meth:`AsyncSMSPartner._request` (auth, send, retry,
error mapping) -> converter -> model.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import logging
import os
import sys
import time
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast

import anyio
import anyio.lowlevel
import attrs
import httpx

from ._converter import decode_account, dumps, loads
from ._endpoints import ACCOUNT, Endpoint
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    DecodeError,
    ErrorDetail,
    NotSentError,
    OutcomeUnknownError,
    RateLimitError,
    RouteNotFoundError,
    ServerError,
    SMSPartnerError,
    ValidationError,
    error_class_for,
)
from ._models import AccountInfo
from ._pace import Pacer
from ._redact import Secret, install_log_redaction, redact
from ._retry import (
    MAX_RETRY_AFTER,
    RetryDetails,
    RetryPolicy,
    check_policy,
    hook_delay,
    is_retryable,
    is_testing,
    parse_retry_after,
)
from ._subaccounts import AsyncSubaccounts
from ._tracing import SpanHandle, Tracing
from ._transport import (
    EMPTY_BODY,
    REQUEST_HEADERS,
    SENDING,
    OwnTransport,
    body_stream,
    deadline_of,
    default_transport,
    environment_proxy,
    make_http_client,
    read_body,
    request_not_sent,
    with_plain_body,
)
from ._validation import check_positive_int, check_timeout

__all__ = ["DEFAULT_BASE_URL", "AsyncSMSPartner", "Request"]

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.smspartner.fr/v1/"
API_KEY_ENV = "SMSPARTNER_API_KEY"
BASE_URL_ENV = "SMSPARTNER_BASE_URL"
#: Seconds per request of the client's own ``httpx.AsyncClient`` (connect: at most 5).
DEFAULT_TIMEOUT = 10.0
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_BODY_EXCERPT = 500
#: What an error keeps of a server's message, and of its list of per-field details.
_MAX_TEXT = 1000
_MAX_DETAILS = 50
#: ``success`` missing from an answer (``None`` is a value a server may send), or unknowable.
_ABSENT = object()
_UNREADABLE = object()
_EXCERPT_SLACK = 4096

logger = logging.getLogger("smspartner_async")


def _would_block() -> tuple[type[Exception], ...]:
    """What ``CapacityLimiter.acquire_nowait`` raises when no token is free.

    anyio 4.4.0 to 4.14.1 lets trio's own ``WouldBlock`` out of it on trio instead of anyio's.
    Evaluated only when one was raised; trio is imported already if it is the running loop.
    """
    if "trio" not in sys.modules:
        return (anyio.WouldBlock,)
    import trio  # noqa: PLC0415

    return (anyio.WouldBlock, trio.WouldBlock)


#: Turns a successful answer's JSON into a model (see ``_converter.py``).
Decoder = Callable[..., T]


class Request(Protocol):
    """The request pipeline, as resources see it: endpoint + fields + decoder -> model."""

    async def __call__(
        self, endpoint: Endpoint, fields: Mapping[str, object], decode: Decoder[T], /
    ) -> T: ...


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class _Built:
    """The request of one call, built once for all its attempts. Its ``repr`` hides it: a
    traceback recorded with its locals shows ``_request``'s, and the request shows the key."""

    __slots__ = ("request",)

    def __init__(self) -> None:
        self.request: httpx.Request | None = None

    def __repr__(self) -> str:
        return "<request>"


_JSON_HEADERS = {**REQUEST_HEADERS, "Content-Type": "application/json"}


_JSON = (b"Content-Type", b"application/json")


@attrs.frozen
class _Prepared:
    """What every request to one endpoint shares: its URL, parsed, and, for the client's own
    ``httpx.AsyncClient``, its headers merged once, in the order httpx would send them (``Host``,
    the client's, then ``Content-Type`` and the body's ``Content-Length``)."""

    url: httpx.URL
    text: str
    headers: list[tuple[bytes, bytes]]

    @classmethod
    def of(cls, url: str, client_headers: httpx.Headers | None) -> _Prepared:
        parsed = httpx.URL(url)
        headers: list[tuple[bytes, bytes]] = []
        if client_headers is not None:
            headers = [(b"Host", parsed.netloc), *client_headers.raw]
        return cls(parsed, str(parsed), headers)

    def with_query(self, query: Mapping[str, object]) -> httpx.URL:
        params = httpx.QueryParams(cast("Mapping[str, Any]", query))
        return httpx.URL(f"{self.text}?{params}")


@attrs.frozen
class _Failure:
    """One failed attempt: the typed error, and whether the server may have acted on it."""

    error: SMSPartnerError
    may_have_acted: bool
    retry_after: float | None = None


class AsyncSMSPartner:
    """Async client for the SMS Partner sub-account API. Share one per application.

    ```python
    async with AsyncSMSPartner() as client:        # key from SMSPARTNER_API_KEY
        info = await client.account()
        async for sub in client.subaccounts.list():
            print(sub.email, sub.credits.balance)
    ```

    ``api_key``: the account's key; ``None`` reads ``SMSPARTNER_API_KEY``. ``timeout``: the
    deadline of each attempt in seconds: connecting (capped at 5 s), sending and reading the
    whole answer must all be done within it, however slowly the answer trickles in. With an
    ``httpx.Timeout``, each value bounds its own step and the largest is the attempt's
    deadline; ``None``: 10 s, or, with ``http_client``, that client's own timeout. A whole
    call takes at most ``retry.max_attempts`` deadlines plus the waits between attempts (each
    at most ``retry.max_delay``, or a server's ``Retry-After`` of up to 60 s, or what
    ``on_retry`` returns), plus any wait for a connection slot (``max_connections``). Answers
    are read to at most 4 MiB. ``retry``: the [`RetryPolicy`][].
    ``http_client``: your own ``httpx.AsyncClient``, used as given (its timeout too, unless you
    pass ``timeout=``) and never closed by us. ``transport``: an ``httpx.AsyncBaseTransport``
    for the client's own ``httpx.AsyncClient`` (tests use ``httpx.MockTransport`` or the
    emulator's).
    ``max_connections``: requests in flight at once through this client; more wait their turn
    without their timeout running. ``max_rate``: at most this many requests (retries included)
    start in any one-second window, exactly, not on average; ``None``, no limit. Whatever the
    limit, a 429 answer with a ``Retry-After`` of up to 60 s holds back every request of the
    client for that long, not only the one retried. ``proxy``: an ``http://`` or ``https://``
    proxy URL for the client's own transport; ``None`` takes the environment's
    (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), read here.

    ``base_url``: the API root; ``None`` reads ``SMSPARTNER_BASE_URL`` (unset or empty:
    ``https://api.smspartner.fr/v1/``), so an application can be pointed at a served emulator
    without a code change. It must be ``https://`` (plain ``http://`` only for localhost).
    A bad ``SMSPARTNER_BASE_URL`` raises [`ValidationError`][] naming it.

    No API key at all raises [`SMSPartnerError`][] at once. One client is safe to share between
    tasks; without ``async with``, call [`aclose`][] when done. Under asyncio a client belongs
    to the event loop of its first call: a call from another loop (one ``asyncio.run`` per
    step) raises [`SMSPartnerError`][] before anything is sent. Calls waiting for a connection
    when the client is closed raise "this AsyncSMSPartner is closed", unsent.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
        max_rate: int | None = None,
        proxy: str | None = None,
    ) -> None:
        self._api_key = _api_key(api_key)
        # The key may not stay in a local: a traceback recorded with its locals (Sentry,
        # pytest --showlocals) of an error raised below would show it.
        del api_key
        if http_client is not None and transport is not None:
            raise ValidationError("pass http_client= or transport=, not both", field="transport")
        if proxy is not None and (http_client is not None or transport is not None):
            raise ValidationError(
                "proxy= is for the client's own transport: set it on yours", field="proxy"
            )
        from_env = os.environ.get(BASE_URL_ENV) if base_url is None else None
        if from_env:
            self._base_url = _check_base_url(from_env, field=BASE_URL_ENV)
        else:
            self._base_url = _check_base_url(DEFAULT_BASE_URL if base_url is None else base_url)
        if timeout is None and http_client is not None:
            # A caller's client is used as given, its timeout included.
            self._timeout = http_client.timeout
        else:
            self._timeout = check_timeout(DEFAULT_TIMEOUT if timeout is None else timeout)
        self._deadline = deadline_of(self._timeout.as_dict())
        self._timeouts = self._timeout.as_dict()
        self._retry = check_policy(retry)
        self._max_connections = check_positive_int(max_connections, field="max_connections")
        self._pacer = Pacer(
            None if max_rate is None else check_positive_int(max_rate, field="max_rate")
        )
        self._transport = transport
        self._proxy = _check_proxy(proxy, "proxy") if proxy is not None else None
        if self._proxy is None and transport is None and http_client is None:
            named = environment_proxy(httpx.URL(self._base_url))
            self._proxy = _check_proxy(*named) if named is not None else None
        self._http = http_client
        self._owns_http = http_client is None
        self._state = _State.UNOPENED
        #: The client that owns the connections: this one, or the one a view was made from.
        self._root = self
        self._limiter: anyio.CapacityLimiter | None = None
        # The asyncio loop of the first call, held weakly (a closed loop must not be kept).
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        #: Per endpoint path, what every request to it shares (built on first use).
        self._prepared: dict[str, _Prepared] = {}
        #: Whether the transport is one of ours (an ``OwnTransport``): set on opening.
        self._own_transport = False
        self._tracing = Tracing()
        self.subaccounts: AsyncSubaccounts = AsyncSubaccounts(self, self._request)
        """Sub-account operations: create, list, credit, delete, bulk."""
        install_log_redaction()

    def __repr__(self) -> str:
        # Also shown for a client whose __init__ raised (a traceback's locals hold it).
        base_url = getattr(self, "_base_url", None)
        return f"AsyncSMSPartner(base_url={base_url!r}, api_key='***')"

    @property
    def base_url(self) -> str:
        """The API root every endpoint path is joined to."""
        return self._base_url

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._retry

    @property
    def is_closed(self) -> bool:
        """Whether [`aclose`][] has been called (on the client a view was made from)."""
        return self._root._state is _State.CLOSED

    def with_options(
        self, *, timeout: float | httpx.Timeout | None = None, retry: RetryPolicy | None = None
    ) -> Self:
        """A view of this client that sends with another ``timeout`` or ``retry`` policy.

        For the one slow or critical call in an application, without a second connection pool:

        ```python
        patient = client.with_options(
            timeout=60.0, retry=sp.RetryPolicy(max_attempts=8)
        )
        report = await patient.subaccounts.bulk_add_credit(amounts)
        ```

        ``None`` keeps this client's setting. The view shares everything else: the key, the
        base URL, the connections, the limit on requests in flight and the lifecycle. It works
        while this client is open and is closed with it; closing the view itself
        (``aclose()``, or leaving ``async with view``) closes nothing. Views are cheap: make
        them where needed.
        """
        view = copy.copy(self)
        if timeout is not None:
            view._timeout = check_timeout(timeout)
            view._deadline = deadline_of(view._timeout.as_dict())
            view._timeouts = view._timeout.as_dict()
        if retry is not None:
            view._retry = check_policy(retry)
        view.subaccounts = AsyncSubaccounts(view, view._request)
        return view

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's own connections. A caller's ``http_client`` is left open.

        On a view made by [`with_options`][], this does nothing: the client it was made from
        owns the connections.
        """
        if self._root is not self or self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    async def account(self) -> AccountInfo:
        """The main account: user name and euro balance (``GET me``).

        ```pycon
        >>> info = await client.account()
        >>> info.balance
        Decimal('10225.119')
        ```
        """
        return await self._request(ACCOUNT, {}, decode_account)

    def _open(self) -> tuple[httpx.AsyncClient, anyio.CapacityLimiter]:
        if self._root is not self:
            return self._root._open()
        if self._state is _State.CLOSED:
            raise _closed()
        loop = _asyncio_loop()
        if self._loop is None:
            self._loop = weakref.ref(loop) if loop is not None else None
        elif self._loop() is not loop:
            # Its connections and its limiter belong to the first loop: a request sent from
            # here would reach the server, then fail on them.
            raise NotSentError(
                "this AsyncSMSPartner was opened in another asyncio event loop (one "
                "asyncio.run per step?): nothing was sent; create one client per event loop"
            )
        if self._http is None:
            transport = self._transport or default_transport(self._max_connections, self._proxy)
            self._own_transport = isinstance(transport, OwnTransport)
            self._http = make_http_client(
                timeout=self._timeout,
                max_connections=self._max_connections,
                transport=transport,
                proxy=self._proxy,
            )
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_connections)
        self._state = _State.OPEN
        return self._http, self._limiter

    async def _request(
        self, endpoint: Endpoint, fields: Mapping[str, object], decode: Decoder[T], /
    ) -> T:
        """Send one API call through auth, retries and error mapping; return its model."""
        http, limiter = self._open()
        built = _Built()

        def request() -> httpx.Request:
            # Built on the first attempt, once a connection slot is ours: with thousands of
            # calls queued, building every request up front holds the event loop for seconds
            # while the calls in flight run down their timeouts.
            if built.request is None:
                built.request = self._build_request(http, endpoint, fields)
            return built.request

        attempt = 0
        with self._tracing.span(endpoint) as call:
            while True:
                attempt += 1
                call.set("smspartner.attempts", attempt)
                with self._tracing.span(endpoint, attempt) as span:
                    result = await self._attempt(
                        http, limiter, request, endpoint, decode, attempt=attempt, span=span
                    )
                    if not isinstance(result, _Failure):
                        return result
                    span.fail(result.error)
                    delay = self._retry_delay(endpoint, result, attempt)
                    span.set("smspartner.retry_delay", delay)
                await anyio.sleep(0 if is_testing() else delay)

    def _retry_delay(self, endpoint: Endpoint, failure: _Failure, attempt: int) -> float:
        """The wait before retrying a failed attempt; raises when it must not be retried."""
        policy = self._retry
        error = failure.error
        wait = failure.retry_after
        if isinstance(error, RateLimitError) and wait is not None and wait <= MAX_RETRY_AFTER:
            # The server asked this client to wait: every request waits, not just this one.
            # (A longer wait is raised to the caller at once, and holds nothing back.)
            self._pacer.pause(0 if is_testing() else wait)
        if endpoint.writes and failure.may_have_acted:
            raise _outcome_unknown(endpoint, error)
        if not is_retryable(error) or attempt >= policy.max_attempts:
            raise error
        if wait is not None:
            if wait > MAX_RETRY_AFTER:
                raise error
            delay = wait
        else:
            delay = policy.backoff(attempt)
        if policy.on_retry is not None:
            details = RetryDetails(endpoint.path, attempt, delay, error, wait)
            chosen = policy.on_retry(details)
            delay = hook_delay(chosen, delay)
        logger.warning(
            "%s failed (%s), retrying in %.2f s (attempt %d of %d)",
            endpoint.path,
            type(error).__name__,
            delay,
            attempt + 1,
            policy.max_attempts,
        )
        return delay

    def _build_request(
        self, http: httpx.AsyncClient, endpoint: Endpoint, fields: Mapping[str, object]
    ) -> httpx.Request:
        payload: dict[str, Any] = {"apiKey": self._api_key.reveal(), **fields}
        body = None if endpoint.method == "GET" else dumps(payload)
        query = payload if body is None or endpoint.query_too else None
        prepared = self._prepared.get(endpoint.path)
        if prepared is None:
            prepared = self._prepared[endpoint.path] = _Prepared.of(
                self._base_url + endpoint.path, http.headers if self._owns_http else None
            )
        if not self._owns_http:
            # A caller's client merges its own configuration (headers, cookies, params).
            request = http.build_request(
                endpoint.method,
                prepared.url,
                params=query,
                content=body,
                headers=REQUEST_HEADERS if body is None else _JSON_HEADERS,
                timeout=self._timeout,
            )
            return with_plain_body(request)
        # Our own client: its headers are known, and httpx.Request takes them as they are. (A
        # parsed URL is kept per endpoint: httpx parses a str URL on every request.)
        url = prepared.url if query is None else prepared.with_query(query)
        if body is None:
            headers, stream = prepared.headers, EMPTY_BODY
        else:
            headers = [*prepared.headers, _JSON, (b"Content-Length", b"%d" % len(body))]
            stream = body_stream(body)
        return httpx.Request(
            endpoint.method,
            url,
            headers=headers,
            stream=stream,
            extensions={"timeout": self._timeouts},
        )

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        limiter: anyio.CapacityLimiter,
        request: Callable[[], httpx.Request],
        endpoint: Endpoint,
        decode: Decoder[T],
        *,
        attempt: int,
        span: SpanHandle,
    ) -> T | _Failure:
        # A free token is taken without the checkpoints of `async with limiter` (an event-loop
        # round trip that cost ~15% of a call over a mock transport); when none is free, the
        # wait still queues fairly behind earlier waiters. A call in a cancelled scope must not
        # send anything, though: some transports write without ever reaching a checkpoint.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            limiter.acquire_nowait()
        except _would_block():
            await limiter.acquire()
        if self._pacer.needed():
            try:
                await self._pacer.turn()
            except BaseException:
                limiter.release()
                raise
        if self._root._state is _State.CLOSED:  # closed while this call waited for its turn
            limiter.release()
            raise _closed()
        started = time.perf_counter()
        try:
            outgoing = request()
        except Exception as exc:  # a caller's http_client may raise anything
            limiter.release()
            return _Failure(self._foreign_error(exc, endpoint, "could not be built"), False)
        try:
            exchanged = await self._exchange(http, outgoing)
        except httpx.TransportError as exc:
            _log_attempt(endpoint, attempt, type(exc).__name__, started)
            return _Failure(
                self._connection_error(exc, endpoint),
                may_have_acted=not (request_not_sent(exc) or SENDING.get() is False),
            )
        except Exception as exc:  # see _foreign_error
            # Past this point the request may have left: a decoder or a caller's response hook
            # failing says nothing about what the server did.
            _log_attempt(endpoint, attempt, type(exc).__name__, started)
            return _Failure(self._foreign_error(exc, endpoint, "failed"), may_have_acted=True)
        finally:
            limiter.release()
        if exchanged is None:
            _log_attempt(endpoint, attempt, "deadline", started)
            late = APITimeoutError(
                f"{endpoint.path}: no complete answer within {self._deadline:g} s",
                endpoint=endpoint.path,
            )
            # Our transports say whether a byte of the request has left; others do not.
            return _Failure(late, may_have_acted=SENDING.get() is not False)
        response, content = exchanged
        span.set("http.response.status_code", response.status_code)
        try:
            result = self._read_answer(endpoint, response, content, decode)
        except Exception as exc:  # see _foreign_error
            result = _Failure(self._foreign_error(exc, endpoint, "failed"), may_have_acted=True)
        if logger.isEnabledFor(logging.DEBUG):
            outcome = "ok" if not isinstance(result, _Failure) else type(result.error).__name__
            _log_attempt(endpoint, attempt, f"HTTP {response.status_code} {outcome}", started)
        return result

    async def _exchange(
        self, http: httpx.AsyncClient, request: httpx.Request
    ) -> tuple[httpx.Response, bytes] | None:
        """Send ``request`` and read its answer whole, or None once the attempt's deadline passed.

        The deadline covers connect, send and the whole answer: a server dripping its answer
        byte by byte would otherwise hold the call as long as each byte comes within the
        per-read timeout.
        """
        SENDING.set(None)
        if self._root._own_transport:  # it keeps the deadline and the size limit itself
            response = await http.send(request, stream=True, follow_redirects=False)
            return response, await read_body(response, own_transport=True)
        with anyio.move_on_after(self._deadline):
            # Never follow a redirect, whatever the client was built with: the request carries
            # the key (in its query or body) and would carry it to another host.
            response = await http.send(request, stream=True, follow_redirects=False)
            return response, await read_body(response, own_transport=False)
        return None

    def _foreign_error(self, exc: Exception, endpoint: Endpoint, what: str) -> SMSPartnerError:
        """A library error for an exception from below the pipeline that is not a network one.

        httpx's own decoding failures (a body that is not in its ``Content-Encoding``) are a
        :class:`DecodeError`; anything else (a caller's event hook, a custom transport) is an
        :class:`SMSPartnerError` with the original as ``__cause__``.
        """
        detail = self._redact(str(exc)) or type(exc).__name__
        error: SMSPartnerError
        if isinstance(exc, httpx.DecodingError):
            error = DecodeError(
                f"{endpoint.path}: the answer could not be decoded: {detail}",
                endpoint=endpoint.path,
                errors=["undecodable body @ $"],
            )
        else:
            error = SMSPartnerError(
                f"{endpoint.path}: the request {what}: {type(exc).__name__}: {detail}"
            )
        return _caused_by(error, self._clean_cause(exc))

    def _connection_error(self, exc: httpx.TransportError, endpoint: Endpoint) -> SMSPartnerError:
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        what = "timed out" if cls is APITimeoutError else "failed"
        detail = self._redact(str(exc)) or type(exc).__name__
        error = cls(f"{endpoint.path}: request {what}: {detail}", endpoint=endpoint.path)
        return _caused_by(error, self._clean_cause(exc))

    def _clean_cause(self, exc: Exception) -> BaseException:
        """A copy of ``exc`` that cannot show the key, to stand as our error's cause.

        The original shows it three ways: a transport may put the URL in its message (aiohttp
        does in some errors, ``httpx.Response.raise_for_status`` in a caller's hook does too),
        ``.request`` is the built request (query and body), and its traceback's frames (httpx's,
        httpcore's) hold that request in their locals, which Sentry or ``pytest --showlocals``
        record. The copy has the same type (a ``RuntimeError`` naming it, for an exception that
        is not httpx's) and a masked message, a ``.request`` with the method and masked URL
        only, no traceback, no chain.
        """
        message = self._redact(str(exc))
        clean: Exception
        if isinstance(exc, httpx.RequestError):
            try:
                sent: httpx.Request | None = exc.request
            except RuntimeError:  # no request attached
                sent = None
            request = None
            if sent is not None:
                query = self._redact(sent.url.query.decode("ascii"))
                request = httpx.Request(
                    sent.method, sent.url.copy_with(query=query.encode("ascii"))
                )
            try:
                clean = type(exc)(message, request=request)
            except TypeError:  # a transport's own subclass with another signature
                base = httpx.TransportError if isinstance(exc, httpx.TransportError) else None
                clean = (base or httpx.RequestError)(message, request=request)
        else:
            clean = RuntimeError(f"{type(exc).__name__}: {message}")
        clean.__suppress_context__ = True
        return clean

    def _read_answer(
        self, endpoint: Endpoint, response: httpx.Response, content: bytes, decode: Decoder[T]
    ) -> T | _Failure:
        status = response.status_code
        try:
            body = _json_object(content)
        except _UnreadableError:
            body, success = None, _UNREADABLE
        else:
            success = body.get("success", _ABSENT) if body is not None else _ABSENT
        ok = 200 <= status < 300
        if ok and success is True:
            try:
                return decode(body, endpoint=endpoint.path, status_code=status)
            except DecodeError as exc:
                exc.body = self._excerpt(content)
                # Raised inside the converter: its traceback's frames hold the answer (which
                # may echo the key) in their locals. It is raised again from _request.
                exc.__traceback__ = exc.__context__ = None
                return _Failure(exc, may_have_acted=True)
        # A refusal only when the answer is one throughout: the body says so, or an error
        # status says so and the body does not contradict it.
        if success is False or (success is _ABSENT and not ok):
            error = self._api_error(endpoint, status, body)
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if isinstance(error, RateLimitError | ServerError):
                    error.retry_after = retry_after
            # 429 is a refusal before processing; a 5xx may come after the work was done.
            return _Failure(error, may_have_acted=status >= 500, retry_after=retry_after)
        # Anything else proves nothing either way, a success body under an error status
        # included: the server may have applied the request.
        if success is True:
            shape, where = "claims success", "success under an error status @ $.success"
        elif success is _UNREADABLE:
            shape, where = "has a number out of range", "number out of range @ $"
        elif body is None:
            shape, where = "is not a JSON object", "not a JSON object @ $"
        else:
            shape, where = "has no boolean 'success'", "missing or not a boolean @ $.success"
        malformed = DecodeError(
            f"{endpoint.path}: the answer (HTTP {status}) {shape}",
            status_code=status,
            endpoint=endpoint.path,
            errors=[where],
            body=self._excerpt(content),
        )
        return _Failure(malformed, may_have_acted=True)

    def _api_error(
        self, endpoint: Endpoint, status: int, body: Mapping[str, object] | None
    ) -> APIError:
        code = _as_int(body.get("code")) if body is not None else None
        listed = _validation_list(body) if body is not None else None
        # Only the API's own refusal (success: false with a code) is read by its code; a bare
        # 404 or 405 (a proxy's page, a framework's {"code": 404}) is a routing miss.
        api_answer = body is not None and body.get("success") is False and code is not None
        cls = error_class_for(
            endpoint.path, code, status, api_answer=api_answer, validation_list=listed is not None
        )
        details = _details(listed, self._bounded)
        said = body.get("message") if body is not None else None
        if not isinstance(said, str) or not said:
            said = "; ".join(
                f"{d.element_id}: {d.message}" if d.element_id else d.message for d in details
            )
        if cls is RouteNotFoundError:
            message = (
                f"the server has no route for {endpoint.method} {endpoint.path} (HTTP {status})"
            )
            message += f": {said}" if said else ""
        else:
            message = said or f"the server answered HTTP {status}"
        return cls(
            self._bounded(message),
            code=code if api_answer else None,
            status_code=status,
            endpoint=endpoint.path,
            details=details,
        )

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key.reveal())

    def _bounded(self, text: str) -> str:
        """A server's text as an error keeps it: key masked, then cut to a readable length."""
        text = self._redact(text)
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"

    def _excerpt(self, content: bytes) -> str:
        # Masked before it is cut, or a key across the cut would keep its first characters;
        # the slack past the cut holds any key (or apiKey=... value) that starts before it.
        text = content[: _BODY_EXCERPT + _EXCERPT_SLACK].decode("utf-8", "replace")
        return self._redact(text)[:_BODY_EXCERPT]


def _closed() -> NotSentError:
    return NotSentError("this AsyncSMSPartner is closed; create a new one")


def _asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None under trio (where a client moves between runs)."""
    try:
        return asyncio.get_running_loop()  # cheaper than asking sniffio, on every call
    except RuntimeError:  # no asyncio loop runs in this thread: trio does
        return None


def _log_attempt(endpoint: Endpoint, attempt: int, outcome: str, started: float) -> None:
    """One DEBUG line per attempt: ``GET subaccount/list -> HTTP 200 ok (attempt 1, 3.1 ms)``."""
    logger.debug(
        "%s %s -> %s (attempt %d, %.1f ms)",
        endpoint.method,
        endpoint.path,
        outcome,
        attempt,
        (time.perf_counter() - started) * 1000,
    )


def _api_key(value: str | None) -> Secret:
    """The key given, else the environment's, checked and wrapped so that it never shows."""
    key = value if value is not None else os.environ.get(API_KEY_ENV)
    # Checked at run time: callers without a type checker pass bytes or ints too.
    if isinstance(key, str) and key.isprintable() and key:
        return Secret(key)
    missing = not key
    del value, key  # not in this frame's locals when the error's traceback is recorded
    if missing:
        raise SMSPartnerError(
            f"no API key: pass api_key=... or set the {API_KEY_ENV} environment variable"
        )
    raise ValidationError("api_key must be a string of printable characters", field="api_key")


def _check_base_url(base_url: str, *, field: str = "base_url") -> str:
    try:
        url = httpx.URL(base_url)
    except (TypeError, httpx.InvalidURL):
        url = None
    # httpx parses leniently: a host with a space, or a port past 65535, still parses.
    if (
        url is None
        or not url.host
        or not all(c.isalnum() or c in ".-:" for c in url.host)
        or not (url.port is None or 0 < url.port < 65536)
    ):
        raise ValidationError(f"{field} is not a URL: {base_url!r}", field=field)
    # TLS always; plain HTTP only to this machine (the served emulator, a local proxy).
    if url.scheme != "https" and not (url.scheme == "http" and url.host in _LOOPBACK):
        raise ValidationError(
            f"{field} must be an https:// URL (http:// only for localhost), got {base_url!r}",
            field=field,
        )
    text = str(url.copy_with(query=None, fragment=None))
    return text if text.endswith("/") else text + "/"


def _check_proxy(proxy: str, field: str) -> str:
    try:
        url = httpx.URL(proxy)
    except (TypeError, httpx.InvalidURL):
        url = None
    # Not echoed: a proxy URL may carry a password.
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValidationError(f"{field} must be an http:// or https:// URL", field=field)
    return proxy


def _json_object(content: bytes) -> dict[str, object] | None:
    """The answer as a JSON object, or None when it is anything else (HTML, truncated, a list).

    Valid JSON with a number no ``Decimal`` can hold (``1e9999999999999999999``) is neither:
    it may say anything, so it raises :class:`_UnreadableError`.
    """
    try:
        body = loads(content)
    except (ValueError, RecursionError):
        return None
    except ArithmeticError as exc:
        raise _UnreadableError from exc
    return cast("dict[str, object]", body) if isinstance(body, dict) else None


class _UnreadableError(Exception):
    """An answer that is JSON, but not one we can read."""


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        try:
            return int(value)
        except ValueError:  # a digit int() refuses ("²"), or past its 4300-digit limit
            return None
    return None


def _validation_list(body: Mapping[str, object]) -> list[object] | None:
    """A validation answer's ``[{elementId, message}]`` list: the docs call it ``error`` on some
    pages and ``errors`` on others, so either key is read."""
    for key in ("error", "errors"):
        value = body.get(key)
        if isinstance(value, list):
            return cast("list[object]", value)
    return None


def _details(value: object, redact: Callable[[str], str]) -> tuple[ErrorDetail, ...]:
    """The ``[{elementId, message}]`` list of a validation answer through ``redact`` (which masks
    keys and bounds lengths), at most ``_MAX_DETAILS`` entries."""
    if not isinstance(value, list):
        return ()
    details: list[ErrorDetail] = []
    for item in cast("list[object]", value)[:_MAX_DETAILS]:
        if isinstance(item, dict):
            item = cast("dict[str, object]", item)
            element = item.get("elementId")
            message = item.get("message")
            details.append(
                ErrorDetail(
                    element_id=redact(element) if isinstance(element, str) else None,
                    message=redact(message if isinstance(message, str) else repr(message)),
                )
            )
        elif isinstance(item, str):
            details.append(ErrorDetail(element_id=None, message=redact(item)))
    return tuple(details)


def _caused_by(error: SMSPartnerError, cause: BaseException) -> SMSPartnerError:
    error.__cause__ = cause
    error.__suppress_context__ = True
    return error


def _outcome_unknown(endpoint: Endpoint, error: SMSPartnerError) -> OutcomeUnknownError:
    unknown = OutcomeUnknownError(
        f"{endpoint.path}: the request was sent but its outcome is unknown ({error}); "
        "it may have been applied: check the balances before trying again",
        endpoint=endpoint.path,
    )
    _caused_by(unknown, error)
    return unknown
