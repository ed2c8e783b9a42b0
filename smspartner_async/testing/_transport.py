"""An httpx transport that serves requests from an :class:`Emulator` in-process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import anyio
import httpx

from smspartner_async.testing._emulator import ConnectionDropped, ConnectionRefused, Emulator

__all__ = ["EmulatorTransport"]


class EmulatorTransport(httpx.AsyncBaseTransport):
    """Send requests straight into an [`Emulator`][], with no sockets, like a network would.

    ``httpx.ASGITransport`` alone ignores timeouts and re-raises whatever the app raises, so
    this transport adds what a real connection does:

    - the request's read timeout is enforced: past it, ``httpx.ReadTimeout`` is raised and the
      emulator's work is cancelled (an ``apply_then_stall`` fault has applied already);
    - ``Fault.drop()`` and ``Fault.apply_then_drop()`` raise ``httpx.RemoteProtocolError``;
    - ``Fault.refuse()`` raises ``httpx.ConnectError``.

    Example, with your own ``httpx.AsyncClient`` under the library's client:

    ```python
    http = httpx.AsyncClient(transport=EmulatorTransport(emulator))
    client = AsyncSMSPartner(
        api_key=emulator.api_key,
        base_url="https://emulator.invalid/v1/",
        http_client=http,
    )
    ```

    [`Emulator.client`][smspartner_async.testing.Emulator.client] does this for you.
    """

    def __init__(self, emulator: Emulator) -> None:
        """Wrap *emulator*."""
        self._emulator = emulator
        self._asgi = httpx.ASGITransport(app=emulator)

    @property
    def emulator(self) -> Emulator:
        """The emulator answering this transport's requests."""
        return self._emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Run *request* through the emulator and return its buffered answer."""
        read_timeout = _read_timeout(request)
        # move_on_after, not fail_after: a TimeoutError raised inside the app must not be
        # mistaken for our deadline.
        with anyio.move_on_after(read_timeout):
            try:
                return await self._asgi.handle_async_request(request)
            except ConnectionRefused as exc:
                raise httpx.ConnectError("Connection refused.", request=request) from exc
            except ConnectionDropped as exc:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                ) from exc
        raise httpx.ReadTimeout(f"No answer within {read_timeout} s.", request=request)

    async def aclose(self) -> None:
        """Close the wrapped ASGI transport."""
        await self._asgi.aclose()


def _read_timeout(request: httpx.Request) -> float | None:
    # httpx.AsyncClient always sets this extension; a bare Request may not have it.
    timeouts = request.extensions.get("timeout")
    if not isinstance(timeouts, Mapping):
        return None
    read = cast("Mapping[str, object]", timeouts).get("read")
    return float(read) if isinstance(read, int | float) else None
