"""Serve an :class:`Emulator` over real HTTP with uvicorn (the optional ``emulator`` extra)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager

import anyio

from smspartner_async.testing._emulator import ConnectionDropped, Emulator

__all__ = ["serve", "served"]

# How long a stopping server waits for requests still in progress (say, a stalled answer
# whose client is still connected) before cancelling them.
_GRACEFUL_SHUTDOWN_SECONDS = 1


_MISSING_UVICORN = (
    "Serving the emulator over HTTP needs uvicorn: pip install 'smspartner-async[emulator]'"
)


class _HideScriptedDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for every connection we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


_HIDE_SCRIPTED_DROPS = _HideScriptedDrops()


@asynccontextmanager
async def served(
    emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncGenerator[str]:
    """Serve *emulator* over HTTP while the block runs; yield its base URL (``…/v1/``).

    ``port=0`` picks a free port. uvicorn runs its own asyncio loop in a background thread,
    so this works under asyncio and trio alike, and the server stops, connections closed,
    when the block exits or is cancelled. A dropped-connection fault really closes the socket
    mid-answer here, so a real client sees a protocol error, not an HTTP 500:

    ```python
    emulator = Emulator()
    # base_url is "http://127.0.0.1:PORT/v1/"
    async with served(emulator, port=0) as base_url:
        async with AsyncSMSPartner(
            api_key=emulator.api_key, base_url=base_url
        ) as client:
            info = await client.account()
    ```
    """
    try:
        import uvicorn  # noqa: PLC0415 - an optional dependency, imported when first needed
    except ImportError as exc:
        raise ModuleNotFoundError(_MISSING_UVICORN) from exc

    config = uvicorn.Config(
        emulator,
        loop="asyncio",
        ws="none",
        lifespan="on",
        log_config=None,
        # The access log would print GET query strings, API keys included.
        access_log=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    # Binding here, not in uvicorn, gives us the real port for port=0 and a plain OSError
    # (instead of uvicorn's sys.exit) when the address is taken.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family)
    # Accepted sockets inherit this. asyncio only sets it on sockets made with
    # proto=IPPROTO_TCP, which create_server's are not; without it, Nagle holds back each
    # answer's body behind its headers until the client's delayed ACK, ~40 ms per request.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    actual_port: int = listener.getsockname()[1]

    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[listener])
        except BaseException as exc:
            failure.append(exc)

    logging.getLogger("uvicorn.error").addFilter(_HIDE_SCRIPTED_DROPS)
    thread = threading.Thread(target=run, name=f"smspartner-emulator:{actual_port}", daemon=True)
    thread.start()
    try:
        # uvicorn offers no start-up callback; its `started` flag is the signal.
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the emulator's HTTP server failed to start") from (
                    failure[0] if failure else None
                )
            await anyio.sleep(0.005)
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{actual_port}/v1/"
    finally:
        server.should_exit = True
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(thread.join)
        listener.close()


async def serve(
    emulator: Emulator,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    on_ready: Callable[[str], object] | None = None,
) -> None:
    """Serve *emulator* over HTTP until cancelled (e.g. by Ctrl-C in ``anyio.run``).

    *on_ready* is called with the base URL once the server accepts connections. Needs
    the ``smspartner-async[emulator]`` extra.

    ```python
    anyio.run(serve, Emulator())   # on http://127.0.0.1:8765/v1/ until Ctrl-C
    ```
    """
    async with served(emulator, host=host, port=port) as base_url:
        if on_ready is not None:
            on_ready(base_url)
        await anyio.sleep_forever()
