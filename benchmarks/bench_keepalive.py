"""Keep-alive races: how many writes end ``unknown`` though the server never received them.

A server closes a keep-alive connection that stays idle for its timeout ``S`` (Apache, uvicorn
and Node use 5 s). Over a network with one-way latency ``d``, the client's idle clock starts
``d`` after the server's (the answer travels), its next request takes ``d`` to arrive, and the
server's close takes ``d`` to come back: a request sent after ``S - 2d`` of idleness arrives at
a server that is closing, is never applied, and the client sees the connection drop with no
answer. For a write that is an ``OutcomeUnknownError``: a *false* unknown, since the server
never applied it. The server here runs on loopback, so it closes at ``S - 2d`` by its own clock
and holds its close back ``d``.

Writers send ``add_credit`` calls paced at about ``S`` apart (uniformly within ``S +- 2d``),
through the library's default transport, once with the client keeping idle connections for
``S`` (the old setting: 5 s against 5 s) and once with the library's own ``KEEPALIVE_EXPIRY``
(scaled by ``S / 5`` in quick mode). ``ours`` and ``baseline`` are the false unknowns of each;
``n`` the writes each sent. Lower is better; the target is zero.

    python benchmarks/bench_keepalive.py [--quick] [--rounds N]

The server is a raw socket server in a thread of this process: throughput is not measured.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time

from _common import emit, parse_args

import smspartner_async as sp
import smspartner_async._transport as transport

API_KEY = "bench-api-key-0123456789"
APPLIED = json.dumps(
    {"success": True, "code": 200, "credit": 1, "subaccountCredit": 1, "currency": "EUR"}
).encode()
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(APPLIED), APPLIED)
#: The server timeout the library's setting is meant to stay under.
COMMON_SERVER_TIMEOUT = 5.0


class IdleClosingServer:
    """Applies and answers each request; closes a connection idle for ``idle`` seconds, its
    close reaching the client ``latency`` seconds later (requests arriving then are lost)."""

    def __init__(self, idle: float, latency: float) -> None:
        self.idle = idle
        self.latency = latency
        self.applied = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1/"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                conn.settimeout(self.idle)
                try:
                    while not _complete(buffer):
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                except TimeoutError:
                    if buffer:  # a request under way when the timer fired: lost as well
                        return
                    time.sleep(self.latency)  # closing: what arrives now is never read
                    return
                buffer = _rest(buffer)
                with self._lock:
                    self.applied += 1
                conn.sendall(ANSWER)


def _complete(buffer: bytes) -> bool:
    head, sep, body = buffer.partition(b"\r\n\r\n")
    return bool(sep) and len(body) >= _length(head)


def _rest(buffer: bytes) -> bytes:
    head, _, body = buffer.partition(b"\r\n\r\n")
    return body[_length(head) :]


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def paced_writes(
    url: str, *, writers: int, writes: int, idle: float, latency: float
) -> tuple[int, int]:
    """Send ``writers * writes`` credits paced about ``idle`` apart; (succeeded, unknown)."""
    succeeded = unknown = 0
    rng = random.Random(7)
    async with sp.AsyncSMSPartner(api_key=API_KEY, base_url=url, timeout=5.0) as client:

        async def writer(number: int) -> None:
            nonlocal succeeded, unknown
            for _ in range(writes):
                try:
                    await client.subaccounts.add_credit(f"tok{number}", "1")
                    succeeded += 1
                except sp.OutcomeUnknownError:
                    unknown += 1
                await asyncio.sleep(idle + rng.uniform(-2 * latency, 2 * latency))

        await asyncio.gather(*(writer(n) for n in range(writers)))
    return succeeded, unknown


def false_unknowns(expiry: float, *, idle: float, latency: float, writers: int, writes: int) -> int:
    server = IdleClosingServer(idle - 2 * latency, latency)
    saved = transport.KEEPALIVE_EXPIRY
    transport.KEEPALIVE_EXPIRY = expiry  # the client's idle expiry for this run only
    try:
        succeeded, unknown = asyncio.run(
            paced_writes(server.url, writers=writers, writes=writes, idle=idle, latency=latency)
        )
    finally:
        transport.KEEPALIVE_EXPIRY = saved
        server.close()
    # Every write the server applied but the client did not see succeed is a true unknown.
    return unknown - (server.applied - succeeded)


def main() -> None:
    args = parse_args(__doc__ or "")
    idle = 1.0 if args.quick else COMMON_SERVER_TIMEOUT
    latency = 0.05
    writers = 10 if args.quick else 20
    writes = 2 if args.quick else (args.rounds or 5)
    scaled_expiry = transport.KEEPALIVE_EXPIRY * idle / COMMON_SERVER_TIMEOUT
    runs = {
        "baseline": false_unknowns(
            idle, idle=idle, latency=latency, writers=writers, writes=writes
        ),
        "ours": false_unknowns(
            scaled_expiry, idle=idle, latency=latency, writers=writers, writes=writes
        ),
    }
    emit(
        "keepalive.false_unknowns",
        ours=runs["ours"],
        baseline=runs["baseline"],
        ratio=runs["ours"] / runs["baseline"] if runs["baseline"] else 0.0,
        unit="false unknowns",
        n=writers * writes,
        server_idle_timeout_s=idle,
        latency_s=latency,
        client_expiry_s=scaled_expiry,
        baseline_is=f"client keeps idle connections {idle} s, as long as the server",
        target="0",
        met=runs["ours"] == 0,
    )


if __name__ == "__main__":
    main()
