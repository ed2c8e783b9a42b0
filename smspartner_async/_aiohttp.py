"""An httpx transport that sends through aiohttp (the optional ``aiohttp`` extra, asyncio only).

httpx 0.28's own connection pool assigns queued requests in quadratic time
(encode/httpx#3215); aiohttp's does not. This transport sits under the shared
``httpx.AsyncClient``, so everything above it (the client, its timeouts, our pipeline) is
unchanged. Compared with the ``httpx-aiohttp`` package it:

- reads each answer whole inside the transport (the API's answers are small JSON bodies), so
  httpx's per-chunk streaming machinery never runs — about half of httpx's cost per request;
- maps aiohttp's failures to the httpx exception that tells truthfully whether the request may
  have left (``httpx-aiohttp`` reports a server hanging up mid-answer as ``ConnectTimeout``,
  which would read as "never sent" and invite a blind retry of a payment);
- sends each request once: aiohttp sends a GET or DELETE again when a kept-alive connection
  drops under it, and a delete the server applied would then come back ``NotFoundError``. A
  client middleware (:func:`_send_once`) turns that failure into one aiohttp does not retry;
- never sends on a pooled connection that received bytes while idle (:class:`_Connector`):
  aiohttp would hand them to the next request as its answer.

Only ``aiohttp`` is imported here; ``_transport.py`` imports this module only when the extra is
installed and the running loop is asyncio.
"""

from __future__ import annotations

import aiohttp
import httpx
from aiohttp.tracing import Trace

from ._transport import (
    SENDING,
    OwnTransport,
    body_stream,
    check_uncompressed,
    deadline_of,
    declared_size,
    past_deadline,
    read_capped,
    request_body,
)

__all__ = ["AiohttpTransport"]

_HTTP_1_1 = b"HTTP/1.1"


class AiohttpTransport(OwnTransport):
    """Sends httpx requests with one ``aiohttp.ClientSession``, opened on first use.

    TLS is verified with httpx's own context (certifi's roots). ``limits.max_connections``
    bounds the connections. Every request goes through ``proxy`` when given; the environment
    is read one level up, the same way for both transports (``_transport.py``). The attempt's
    deadline is aiohttp's ``total`` timeout, which covers reading the answer too.
    """

    def __init__(self, limits: httpx.Limits, *, proxy: str | None = None) -> None:
        self._limits = limits
        self._proxy = proxy
        # Built here, not with the session: loading the CA roots takes a while, and the first
        # request's deadline should not pay for it.
        self._ssl = httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        # One ClientTimeout per distinct request timeout (a client and its views have a few).
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = _Connector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            ssl=self._ssl,
        )
        # httpx has already set every header it sends; aiohttp must not add its own.
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            # httpx keeps the cookies, one level up, where callers can see and clear them.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            middlewares=(_send_once,),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        SENDING.set(False)
        session = self._session or self._open()
        timeout = self._timeout(request.extensions.get("timeout", {}))
        body = request_body(request)
        if body is None:
            body = await request.aread()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=_str_headers(request.headers),
                data=body or None,
                allow_redirects=False,
                proxy=self._proxy,
                timeout=timeout,
            ) as answer:
                check_uncompressed(answer.headers.get("Content-Encoding"), request)
                if declared_size(answer.headers.get("Content-Length"), request) is not None:
                    content = await answer.read()  # aiohttp reads no more than declared
                else:
                    content = await read_capped(answer.content.iter_any(), None, request)
        except TimeoutError as exc:
            if type(exc) is TimeoutError:  # aiohttp's total timeout: the attempt's deadline
                raise past_deadline(timeout.total, request) from exc
            raise _mapped(exc, request) from exc
        except aiohttp.ClientError as exc:
            raise _mapped(exc, request) from exc
        extensions: dict[str, object] = {"http_version": _HTTP_1_1}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode("latin-1", "replace")
        # Read here, whole: httpx's response reading machinery never runs on it. (httpx's client
        # sets ``elapsed`` when the pipeline closes it.)
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=body_stream(content),
            extensions=extensions,
        )

    def _timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = tuple(timeout.values())
        cached = self._timeouts.get(key)
        if cached is None:
            total = deadline_of(timeout)

            def within(phase: str) -> float | None:
                # A phase's limit no shorter than the whole attempt's can never end it first:
                # left out, it costs no timer (sock_read's is rearmed at every read).
                value = timeout.get(phase)
                return value if value is not None and (total is None or value < total) else None

            cached = self._timeouts[key] = aiohttp.ClientTimeout(
                total=total,
                connect=within("pool"),
                sock_connect=within("connect"),
                sock_read=within("read"),
            )
        return cached

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _str_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """``headers.multi_items()``, the same pairs, without its per-item encoding checks."""
    try:
        return [(name.decode(), value.decode()) for name, value in headers.raw]
    except UnicodeDecodeError:  # httpx then reads them as Latin-1
        return headers.multi_items()


class _Connector(aiohttp.TCPConnector):
    """A TCP connector that hands out no connection holding bytes nobody asked for.

    aiohttp parses whatever arrives on an idle pooled connection and queues it as the answer
    of the next request sent there. It also marks the attempt as possibly sent once a
    connection is handed out: the request is written right after.
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> aiohttp.connector.Connection:
        while True:
            connection = await super().connect(req, traces, timeout)
            protocol = connection.protocol
            if protocol is None or not protocol.should_close:
                SENDING.set(True)
                return connection
            connection.close()  # bytes came in while it was idle: never reuse it


class _SentOnceError(aiohttp.ClientConnectionError):
    """The connection failed once the request may have left; not one aiohttp sends again."""


async def _send_once(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Raise the failures aiohttp would answer by sending a GET or DELETE a second time as one
    it does not: retrying is the request pipeline's decision alone."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # could not connect: nothing was sent, and aiohttp does not retry it
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _SentOnceError(str(exc) or type(exc).__name__) from exc


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error for an aiohttp failure: only connect-time failures mean "never sent"."""
    mapped: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError  # DNS, refused, TLS handshake: nothing was sent
    elif isinstance(exc, aiohttp.ClientHttpProxyError):
        mapped = httpx.ProxyError  # the proxy refused the tunnel: nothing reached the API
    elif isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout  # no connection in time (pool or connect)
    elif isinstance(exc, TimeoutError):
        mapped = httpx.ReadTimeout  # sent; the answer did not come in time
    elif isinstance(exc, aiohttp.ClientPayloadError):
        mapped = httpx.ReadError
    else:
        mapped = httpx.RemoteProtocolError  # a hang-up, a broken answer: sent, fate unknown
    return mapped(str(exc) or type(exc).__name__, request=request)
