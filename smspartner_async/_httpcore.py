"""httpx's own HTTP/1.1 stack (httpcore) under a network layer that keeps answers with requests.

Used under trio, and on asyncio without the ``aiohttp`` extra. It is ``httpx.AsyncHTTPTransport``
with two differences, both through httpcore's documented extension point, the network backend:

- A connection that holds bytes no request asked for never carries another request. httpcore
  checks an idle socket for bytes before reusing it, but bytes that came in the same read as an
  answer (a server or proxy that writes one answer twice) sit in its parser's buffer and would
  become the next request's answer. Each stream here follows its answers with an ``h11`` parser
  of its own and, once it has seen bytes past the end of one, reports itself readable (so the
  pool drops it) and refuses to send.
- Each answer is read here, whole, capped at ``MAX_ANSWER_BYTES`` and within the attempt's
  deadline, like the aiohttp transport does (see ``OwnTransport``), and every write marks the
  attempt as possibly sent (see ``SENDING``).
"""

from __future__ import annotations

import ssl
import typing

import anyio
import h11
import httpcore
import httpx

from ._transport import (
    SENDING,
    OwnTransport,
    body_stream,
    check_uncompressed,
    current_backend,
    deadline_of,
    past_deadline,
    read_capped,
)

__all__ = ["HttpcoreTransport"]

#: httpcore's exceptions and the httpx ones they mean (the same names, one level up).
_MAPPED: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProxyError: httpx.ProxyError,
}
_CORE_ERRORS = tuple(_MAPPED)


class HttpcoreTransport(OwnTransport):
    """An httpcore connection pool over :class:`_Backend`; TLS verified with httpx's context."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=0,
            network_backend=_Backend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        SENDING.set(False)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=typing.cast("typing.AsyncIterable[bytes]", request.stream),
            extensions=request.extensions,
        )
        deadline = deadline_of(request.extensions.get("timeout", {}))
        try:
            with anyio.move_on_after(deadline if deadline is not None else float("inf")):
                answer = await self._pool.handle_async_request(core_request)
                try:
                    headers = httpx.Headers(answer.headers)
                    check_uncompressed(headers.get("Content-Encoding"), request)
                    content = await read_capped(
                        answer.aiter_stream(), headers.get("Content-Length"), request
                    )
                finally:
                    await answer.aclose()
                return httpx.Response(
                    answer.status,
                    headers=headers,
                    stream=body_stream(content),
                    extensions=answer.extensions,  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                )
        except _CORE_ERRORS as exc:
            mapped = next(_MAPPED[cls] for cls in type(exc).__mro__ if cls in _MAPPED)
            raise mapped(str(exc) or type(exc).__name__, request=request) from exc
        raise past_deadline(deadline, request)

    async def aclose(self) -> None:
        await self._pool.aclose()


class _Backend(httpcore.AsyncNetworkBackend):
    """The running loop's httpcore backend, its streams wrapped in :class:`_Stream`."""

    def __init__(self) -> None:
        inner = httpcore.TrioBackend() if current_backend() == "trio" else httpcore.AnyIOBackend()
        self._inner = typing.cast("httpcore.AsyncNetworkBackend", inner)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    """A connection that knows when it holds bytes no request asked for, and then sends no more.

    It runs every answer through an ``h11`` client parser of its own (the one httpcore uses is
    out of reach): once an answer is complete, any byte after it is stale.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._answers = h11.Connection(h11.CLIENT)
        self._stale = False
        self._head = b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        answers = self._answers
        if answers.our_state is h11.DONE and answers.their_state is h11.DONE:
            answers.start_next_cycle()  # a new request: its answer is the next one to follow
        if answers.our_state is h11.IDLE:
            if self._stale:
                # ConnectError: true to what the pipeline needs to know, nothing was sent.
                raise httpcore.ConnectError("the connection holds bytes no request asked for")
            SENDING.set(True)
            method = buffer.split(b" ", 1)[0]
            answers.send(h11.Request(method=method, target=b"/", headers=[(b"Host", b"-")]))
            answers.send(h11.EndOfMessage())
            # httpcore writes a request's head, then its body, then the end of the body (b""
            # when the length was given): the head waits for the next write, so that a small
            # request leaves in one packet, not two.
            self._head = buffer
            return
        SENDING.set(True)
        if self._head:
            buffer, self._head = self._head + buffer, b""
        await self._inner.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        if not self._stale:
            self._follow(data)
        return data

    def _follow(self, data: bytes) -> None:
        if not data:  # the peer closed: no request goes here any more
            self._stale = True
            return
        answers = self._answers
        try:
            answers.receive_data(data)
            event = answers.next_event()
            while event is not h11.NEED_DATA and event is not h11.PAUSED:
                event = answers.next_event()
        except h11.RemoteProtocolError:  # not an answer httpcore could read either
            self._stale = True
            return
        if answers.their_state is h11.DONE and answers.trailing_data[0]:
            self._stale = True  # bytes past the end of the answer

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        # httpcore asks an idle connection whether it is readable before reusing it.
        if info == "is_readable" and self._stale:
            return True
        return self._inner.get_extra_info(info)
