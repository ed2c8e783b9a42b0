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

import urllib.request
from collections.abc import AsyncIterable, AsyncIterator
from contextvars import ContextVar

import httpx

from ._version import __version__

__all__ = [
    "KEEPALIVE_EXPIRY",
    "MAX_ANSWER_BYTES",
    "REQUEST_HEADERS",
    "SENDING",
    "USER_AGENT",
    "check_uncompressed",
    "current_backend",
    "environment_proxy",
    "make_http_client",
    "read_body",
    "read_capped",
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


async def read_body(response: httpx.Response) -> bytes:
    """The body of ``response`` (sent with ``stream=True``), read whole but never past the limit.

    Raises ``httpx.DecodingError`` for an answer that is compressed (we ask for none) or larger
    than :data:`MAX_ANSWER_BYTES`; the caller closes the response.
    """
    check_uncompressed(response.headers, response.request)
    if response.is_stream_consumed:  # the transport read it already (ours do, capped)
        content = response.content
        if len(content) > MAX_ANSWER_BYTES:
            raise _too_large(response.request)
        return content
    return await read_capped(
        response.aiter_raw(), response.headers.get("Content-Length"), response.request
    )


def check_uncompressed(headers: httpx.Headers, request: httpx.Request) -> None:
    """Raise ``httpx.DecodingError`` for an answer with a ``Content-Encoding`` (we ask for none)."""
    encoding = headers.get("Content-Encoding")
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
    if length is not None and length.isascii() and length.strip().isdigit():
        digits = length.strip().lstrip("0")
        if len(digits) > len(str(MAX_ANSWER_BYTES)) or int(digits or "0") > MAX_ANSWER_BYTES:
            raise _too_large(request)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _too_large(request)
        parts.append(chunk)
    return b"".join(parts)


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
    request.stream = _OneChunk(request.content)
    return request


class _OneChunk(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self._body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Chunks(self._body)


class _Chunks:
    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        body, self._body = self._body, None
        if body is None:
            raise StopAsyncIteration
        return body


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
    """The client's own ``httpx.AsyncClient``: TLS verified, no redirects, our User-Agent."""
    return httpx.AsyncClient(
        transport=transport or _default_transport(max_connections, proxy),
        timeout=timeout,
        headers=REQUEST_HEADERS,
        follow_redirects=False,
    )


def _default_transport(max_connections: int, proxy: str | None) -> httpx.AsyncBaseTransport:
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
