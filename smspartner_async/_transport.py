"""The shared ``httpx.AsyncClient`` and the transport under it.

On asyncio with the ``aiohttp`` extra installed, the client sends through an aiohttp-backed
httpx transport: httpx 0.28's own pool assigns queued requests in quadratic time
(encode/httpx#3215) and is several times slower at 100 requests in flight. Under trio, or
without the extra, httpx's own HTTP stack (httpcore) is used, under a network layer of ours
(``_httpcore.py``).

Either way each request is sent once (no layer below the pipeline retries), an answer is only
ever taken from bytes that came after its request, idle connections are dropped after
:data:`KEEPALIVE_EXPIRY`, and an answer is read to at most :data:`MAX_ANSWER_BYTES`.

Both transports go through the same proxy: the one passed as ``proxy=``, else the one the
standard environment names for the API's URL (``HTTPS_PROXY`` or ``HTTP_PROXY`` by its scheme,
then ``ALL_PROXY``, unless ``NO_PROXY`` covers its host), read when the client is created.

Whatever sends the bytes, failures reach the request pipeline as the httpx exception that says
truthfully whether the request may have left: ``ConnectError``, ``ConnectTimeout``,
``PoolTimeout`` and ``ProxyError`` mean it never did; anything else means it may have.
"""

from __future__ import annotations

import http.cookiejar
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextvars import ContextVar
from typing import cast

import httpx

from ._version import __version__

__all__ = [
    "EMPTY_BODY",
    "KEEPALIVE_EXPIRY",
    "MAX_ANSWER_BYTES",
    "REQUEST_HEADERS",
    "SENDING",
    "USER_AGENT",
    "OwnTransport",
    "body_stream",
    "check_uncompressed",
    "current_backend",
    "deadline_of",
    "declared_size",
    "default_transport",
    "environment_proxy",
    "make_http_client",
    "past_deadline",
    "read_body",
    "read_capped",
    "request_body",
    "request_not_sent",
    "with_plain_body",
]

USER_AGENT = f"smspartner-async/{__version__}"

#: The largest answer read, in bytes. The API's answers are a few KB (a 20-row page is
#: about 6 KB); past this the answer is dropped unread and the call fails with DecodeError.
MAX_ANSWER_BYTES = 4 * 1024 * 1024

#: Seconds an idle connection is kept for reuse: well below the 5 s after which common servers
#: (Apache, uvicorn, Node) close theirs, so a request never goes out on a connection the server
#: is closing at that moment (a write would then end unknown).
KEEPALIVE_EXPIRY = 2.0

#: What the current attempt's transport knows of its request: ``None``, it does not say (a
#: transport not ours); ``False``, not a byte of it has left; ``True``, it may have. Our
#: transports set it in the calling task; the pipeline reads it when an attempt runs out of time.
SENDING: ContextVar[bool | None] = ContextVar("smspartner_async_sending", default=None)

#: Headers of every request. Answers come uncompressed: a compressed answer could inflate
#: far past MAX_ANSWER_BYTES from a few kilobytes on the wire.
REQUEST_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Accept-Encoding": "identity",
}

#: Failures that happen before a single byte of the request is sent.
_NOT_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,  # the proxy refused to open a tunnel: nothing reached the API
    httpx.UnsupportedProtocol,
)


def request_not_sent(exc: httpx.TransportError) -> bool:
    """True when ``exc`` proves the server never received the request."""
    return isinstance(exc, _NOT_SENT)


class OwnTransport(httpx.AsyncBaseTransport):
    """A transport of ours: it keeps both of the pipeline's guarantees itself.

    Each answer is read whole inside the transport, capped at :data:`MAX_ANSWER_BYTES`
    (``httpx.DecodingError`` past it, or for a compressed answer), within the attempt's
    deadline: the largest value of the request's ``timeout`` extension (past it, an
    ``httpx.TimeoutException``, with :data:`SENDING` saying whether a byte left). The response
    it returns holds that body in a stream of one chunk, so the pipeline neither sets a
    deadline of its own nor reads through a cap a second time.
    """


def deadline_of(timeout: Mapping[str, float | None]) -> float | None:
    """An attempt's deadline: the largest of its timeout's values (None if it has none)."""
    values = [t for t in timeout.values() if t is not None]
    return max(values) if values else None


def past_deadline(deadline: float | None, request: httpx.Request) -> httpx.TimeoutException:
    """The error of an attempt that ran out of time: "never sent" while :data:`SENDING` says so."""
    cls = httpx.ReadTimeout if SENDING.get() else httpx.PoolTimeout
    within = "in time" if deadline is None else f"within {deadline:g} s"
    return cls(f"no complete answer {within}", request=request)


async def read_body(response: httpx.Response, *, own_transport: bool) -> bytes:
    """The body of ``response`` (sent with ``stream=True``), read whole but never past the limit,
    then the response closed.

    Raises ``httpx.DecodingError`` for an answer that is compressed (we ask for none) or larger
    than :data:`MAX_ANSWER_BYTES`. With ``own_transport`` (an :class:`OwnTransport` answered),
    both were checked already, and the body is the stream's one chunk.
    """
    try:
        if own_transport:
            stream = cast("httpx.AsyncByteStream", response.stream)
            return b"".join([chunk async for chunk in stream])
        check_uncompressed(response.headers.get("Content-Encoding"), response.request)
        if response.is_stream_consumed:  # the transport gave its content whole
            content = response.content
            if len(content) > MAX_ANSWER_BYTES:
                raise _too_large(response.request)
            return content
        return await read_capped(
            response.aiter_raw(), response.headers.get("Content-Length"), response.request
        )
    finally:
        await response.aclose()
        # httpx's client wraps the stream in one that refers back to the response: a reference
        # cycle per call, which only the cyclic garbage collector would reclaim.
        response.stream = EMPTY_BODY


def check_uncompressed(encoding: str | None, request: httpx.Request) -> None:
    """Raise ``httpx.DecodingError`` for an answer with a ``Content-Encoding`` (we ask for none)."""
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        raise httpx.DecodingError(
            f"the answer is compressed ({encoding[:40]!r}) though none was asked for",
            request=request,
        )


async def read_capped(
    chunks: AsyncIterable[bytes], length: str | None, request: httpx.Request
) -> bytes:
    """Join ``chunks``, raising ``httpx.DecodingError`` once past :data:`MAX_ANSWER_BYTES`.

    ``length`` is the answer's ``Content-Length``: one over the limit fails before any read.
    """
    declared_size(length, request)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _too_large(request)
        parts.append(chunk)
    return b"".join(parts)


def declared_size(length: str | None, request: httpx.Request) -> int | None:
    """An answer's ``Content-Length`` as a number, None when it has none that reads as one;
    ``httpx.DecodingError`` when it is over :data:`MAX_ANSWER_BYTES`."""
    if length is None or not length.isascii() or not length.strip().isdigit():
        return None
    digits = length.strip().lstrip("0")
    if len(digits) > len(str(MAX_ANSWER_BYTES)) or int(digits or "0") > MAX_ANSWER_BYTES:
        raise _too_large(request)
    return int(digits or "0")


def _too_large(request: httpx.Request) -> httpx.DecodingError:
    return httpx.DecodingError(
        f"the answer is larger than {MAX_ANSWER_BYTES} bytes, the most this client reads",
        request=request,
    )


def with_plain_body(request: httpx.Request) -> httpx.Request:
    """Give ``request`` a body stream that is not an async generator, and return it.

    httpx 0.28's ``ByteStream.__aiter__`` is one: a call cancelled while its body is being
    sent leaves it suspended, and trio reports that as a ``ResourceWarning`` when it is
    collected (encode/httpx#3686). The body is already in memory; only its iterator changes.
    """
    request.stream = body_stream(request.content)
    return request


def body_stream(body: bytes) -> httpx.AsyncByteStream:
    """A body already in memory, as a stream of one chunk that is not an async generator."""
    return _OneChunk(body) if body else EMPTY_BODY


def request_body(request: httpx.Request) -> bytes | None:
    """The body of ``request`` when it is in memory (built by the pipeline, or read), else None."""
    stream = request.stream
    if isinstance(stream, _OneChunk):
        return stream.body
    try:
        return request.content
    except httpx.RequestNotRead:
        return None


class _OneChunk(httpx.AsyncByteStream):
    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Chunks(self.body)


class _Chunks:
    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        body, self._body = self._body, None
        if not body:
            raise StopAsyncIteration
        return body


#: An empty body (a GET's, or a closed answer's).
EMPTY_BODY: httpx.AsyncByteStream = _OneChunk(b"")


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps none: the API sets no cookies, and reading an answer's headers
    for them (httpx does, for every answer) costs more than the rest of its handling."""

    def extract_cookies(self, response: object, request: urllib.request.Request) -> None:
        return None


def current_backend() -> str:
    """The async library running us: ``"asyncio"`` or ``"trio"``."""
    try:
        import sniffio  # noqa: PLC0415 - trio always brings sniffio; asyncio may lack it
    except ImportError:
        return "asyncio"
    return sniffio.current_async_library()


def environment_proxy(url: httpx.URL) -> tuple[str, str] | None:
    """The proxy the environment names for ``url``, and the variable naming it; or None.

    ``https_proxy`` / ``http_proxy`` by the URL's scheme, else ``all_proxy`` (either case, as
    ``urllib.request.getproxies()`` reads them), unless ``no_proxy`` lists the URL's host: a
    name matches itself and its subdomains (``example.com`` and ``.example.com`` alike),
    ``host:port`` only that port, ``*`` every host.
    """
    proxies = urllib.request.getproxies()
    scheme = url.scheme if proxies.get(url.scheme) else "all"
    proxy = proxies.get(scheme)
    if not proxy or _bypassed(url, proxies.get("no", "")):
        return None
    return proxy, f"{scheme.upper()}_PROXY"


def _bypassed(url: httpx.URL, no_proxy: str) -> bool:
    host = url.host.lower()
    port = str(url.port or (443 if url.scheme == "https" else 80))
    for entry in no_proxy.lower().replace(" ", "").split(","):
        if entry == "*":
            return True
        name, entry_port = _host_port(entry)
        name = name.lstrip(".")
        if name and (host == name or host.endswith("." + name)) and entry_port in ("", port):
            return True
    return False


def _host_port(entry: str) -> tuple[str, str]:
    if entry.startswith("["):  # [::1]:8080
        name, _, rest = entry[1:].partition("]")
        return name, rest.removeprefix(":")
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, port
    return entry, ""  # a name, or a bare IPv6 address


def make_http_client(
    *,
    timeout: httpx.Timeout,
    max_connections: int,
    transport: httpx.AsyncBaseTransport | None,
    proxy: str | None = None,
) -> httpx.AsyncClient:
    """The client's own ``httpx.AsyncClient``: TLS verified, no redirects, no cookies kept,
    our User-Agent."""
    return httpx.AsyncClient(
        transport=transport or default_transport(max_connections, proxy),
        timeout=timeout,
        headers=REQUEST_HEADERS,
        cookies=_NoCookies(),
        follow_redirects=False,
    )


def default_transport(max_connections: int, proxy: str | None) -> httpx.AsyncBaseTransport:
    """The transport of the client's own ``httpx.AsyncClient``, for the running event loop."""
    limits = httpx.Limits(
        max_connections=max_connections,
        # More keep-alive slots than this make httpx's pool slower, not faster (httpx#3215).
        max_keepalive_connections=min(20, max_connections),
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    if current_backend() == "asyncio":
        try:
            return _aiohttp_transport(limits, proxy)
        except ImportError:
            pass
    if proxy is not None:
        # Through a proxy, httpx's own transport: the guard against stale answers
        # (_httpcore.py) covers direct connections only.
        return httpx.AsyncHTTPTransport(limits=limits, retries=0, proxy=proxy)
    from ._httpcore import HttpcoreTransport  # noqa: PLC0415 - imports this module

    return HttpcoreTransport(limits)


def _aiohttp_transport(limits: httpx.Limits, proxy: str | None) -> httpx.AsyncBaseTransport:
    from ._aiohttp import AiohttpTransport  # noqa: PLC0415 - optional extra

    return AiohttpTransport(limits, proxy=proxy)
