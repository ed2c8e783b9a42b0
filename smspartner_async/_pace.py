"""The client's pace: at most ``max_rate`` requests started in any one-second window, and every
request held back while the server has asked to wait (a 429 with ``Retry-After``).

The limit is exact over any window, not on average: a request may start only once the
``max_rate``-th most recent start is at least a second old (see :data:`WINDOW`), so no interval
of one second ever holds more than ``max_rate`` starts. Waiters are served in arrival order.
Every attempt counts, retries included. Only AnyIO primitives are used, so it behaves the same
on asyncio and trio.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import anyio

__all__ = ["WINDOW", "Pacer"]

#: The window ``max_rate`` counts over, in seconds, plus a guard of 5 ms: a request reaches
#: the server a little after its turn, by a varying delay, and the guard keeps that jitter from
#: packing ``max_rate + 1`` arrivals into one second at the server.
WINDOW = 1.005


class Pacer:
    """Grants request starts: ``max_rate`` per second at most, none while paused."""

    def __init__(self, max_rate: int | None) -> None:
        self._rate = max_rate
        self._starts: deque[float] = deque()
        self._paused_until = float("-inf")
        self._lock = anyio.Lock()
        #: Called with each start's time as it is granted (tests count starts per window).
        self.on_start: Callable[[float], object] | None = None

    def needed(self) -> bool:
        """Whether a request must ask for its turn (a limit is set, or a pause may be on)."""
        return self._rate is not None or self._paused_until > float("-inf")

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (a longer pause already on stays)."""
        self._paused_until = max(self._paused_until, anyio.current_time() + seconds)

    async def turn(self) -> None:
        """Return when this request may start; its start then counts against the limit."""
        async with self._lock:
            while True:
                now = anyio.current_time()
                wait = self._paused_until - now
                if self._rate is not None and len(self._starts) >= self._rate:
                    wait = max(wait, self._starts[0] + WINDOW - now)
                if wait <= 0:
                    break
                await anyio.sleep(wait)
            if self.on_start is not None:
                self.on_start(now)
            if self._rate is not None:
                self._starts.append(now)
                while len(self._starts) > self._rate:
                    self._starts.popleft()
