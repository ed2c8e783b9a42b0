"""A raw HTTP/1.1 server on 127.0.0.1 that misbehaves exactly as a test scripts it.

It runs in a thread of its own, so it serves asyncio and trio tests alike. Each request it
reads is recorded (``server.requests``) with the number of the connection it came on; the
test's ``answer`` function gets a :class:`Exchange` and writes whatever bytes it likes, when it
likes, or closes the connection without a word.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import attrs


@attrs.define
class Exchange:
    """One request as the server read it, and the socket to answer on."""

    conn: socket.socket
    connection: int  # 1 for the first connection the server accepted
    index: int  # 1 for the first request on the whole server
    head: bytes
    body: bytes

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def hang_up(self) -> None:
        """Close the connection at once, answering nothing more."""
        self.conn.shutdown(socket.SHUT_RDWR)

    @property
    def method(self) -> str:
        return self.head.split(b" ", 1)[0].decode()


Answer = Callable[[Exchange], None]


def response(body: bytes | str, status: int = 200, **headers: str) -> bytes:
    """The bytes of a complete HTTP/1.1 answer with a Content-Length."""
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if "Content_Length" not in headers:
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class RawServer:
    """Reads requests, records them, and lets ``answer`` reply (or not) to each."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[Exchange] = []
        self.connections = 0
        self.disconnected = threading.Event()  # set when a client hangs up mid-answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/"

    @property
    def count(self) -> int:
        return len(self.requests)

    def start(self) -> None:
        self._spawn(self._accept)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for conn in list(self._open):
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            self._spawn(self._serve, conn, self.connections)

    def _serve(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                body, buffer = buffer[:length], buffer[length:]
                exchange = Exchange(conn, number, len(self.requests) + 1, head, body)
                self.requests.append(exchange)
                self.answer(exchange)
        except OSError:
            self.disconnected.set()
        finally:
            conn.close()


@contextmanager
def raw_server(answer: Answer) -> Iterator[RawServer]:
    server = RawServer(answer)
    server.start()
    try:
        yield server
    finally:
        server.close()
