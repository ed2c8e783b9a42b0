"""An httpx transport that sends through aiohttp (the optional ``aiohttp`` extra, asyncio only).

httpx 0.28's own connection pool assigns queued requests in quadratic time
(encode/httpx#3215); aiohttp's does not. This transport sits under the shared
``httpx.AsyncClient``, so everything above it (the client, its timeouts, our pipeline) is
unchanged. Compared with the ``httpx-aiohttp`` package it:

- reads each answer whole inside the transport (the API's answers are small JSON bodies), so
  httpx's per-chunk streaming machinery never runs — about half of httpx's cost per request;
- maps aiohttp's failures to the httpx exception that tells truthfully whether the request may
  have left (``httpx-aiohttp`` reports a server hanging up mid-answer as ``ConnectTimeout``,
  which would read as "never sent" and invite a blind retry of a payment).

Only ``aiohttp`` is imported here; ``_transport.py`` imports this module only when the extra is
installed and the running loop is asyncio.
"""

from __future__ import annotations

import time
from datetime import timedelta

import aiohttp
import httpx

__all__ = ["AiohttpTransport"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one ``aiohttp.ClientSession``, opened on first use.

    TLS is verified with httpx's own context (certifi's roots). ``limits.max_connections``
    bounds the connections. Every request goes through ``proxy`` when given; the environment
    is read one level up, the same way for both transports (``_transport.py``).
    """

    def __init__(self, limits: httpx.Limits, *, proxy: str | None = None) -> None:
        self._limits = limits
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            ssl=httpx.create_ssl_context(),
        )
        # httpx has already set every header it sends; aiohttp must not add its own.
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            # httpx keeps the cookies, one level up, where callers can see and clear them.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()  # already in memory for our requests: no I/O
        started = time.perf_counter()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                proxy=self._proxy,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as answer:
                content = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _mapped(exc, request) from exc
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode("latin-1", "replace")
        response = httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            content=content,  # read here: httpx's async chunk iteration never runs
            request=request,
            extensions=extensions,
        )
        # httpx sets `elapsed` when it closes a body it streamed; this one is complete already.
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
