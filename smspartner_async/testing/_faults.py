"""Scripted failures: what the emulator does instead of (or after) answering normally."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Final, Literal

import attrs

__all__ = ["ENDPOINTS", "Fault", "FaultKind", "FaultPlan", "canonical_endpoint"]

FaultKind = Literal[
    "status", "html", "reply", "refuse", "drop", "apply_then_drop", "apply_then_stall"
]
"""What a [`Fault`][] does; each kind has a constructor of the same name (``Fault.drop()``)."""

#: Operation names accepted by ``endpoint=`` filters, as paths relative to ``/v1/``.
ENDPOINTS: Final = frozenset(
    {
        "subaccount/create",
        "subaccount/list",
        "subaccount/credit/add",
        "subaccount/credit/remove",
        "subaccount/delete",
        "me",
    }
)

# The public page's example deletes through `subaccount/remove`; both paths are one operation.
_ALIASES: Final = {"subaccount/remove": "subaccount/delete"}


def canonical_endpoint(name: str) -> str:
    """Return the operation name for *name* (``"/v1/subaccount/remove"`` → ``"subaccount/delete"``).

    Raises ``ValueError`` for a name that is not an emulated endpoint, so a typo in a test fails
    loudly instead of silently never matching.
    """
    bare = name.strip("/").removeprefix("v1/")
    bare = _ALIASES.get(bare, bare)
    if bare not in ENDPOINTS:
        known = ", ".join(sorted(ENDPOINTS))
        raise ValueError(f"unknown endpoint {name!r}; expected one of: {known}")
    return bare


@attrs.frozen(kw_only=True)
class Fault:
    """One scripted failure. Build it with a constructor, e.g. ``Fault.status(503)``.

    Whether the operation reaches the ledger is part of the fault: ``status``, ``html``,
    ``refuse`` and ``drop`` fail *before* anything is applied; ``apply_then_drop`` and
    ``apply_then_stall`` apply the operation and then lose its answer.
    """

    kind: FaultKind
    status_code: int | None = None
    retry_after: int | str | None = None
    stall_seconds: float = 0.0
    content: bytes = b""

    @property
    def applies(self) -> bool:
        """True when the operation is applied to the ledger before the failure."""
        return self.kind in ("apply_then_drop", "apply_then_stall")

    @classmethod
    def status(cls, status_code: int = 503, *, retry_after: int | str | None = None) -> Fault:
        """Answer *status_code* with a JSON error body; nothing is applied.

        *retry_after* becomes a ``Retry-After`` header: an int is a number of seconds, a str
        is sent verbatim (e.g. an HTTP date).
        """
        _check_error_status(status_code)
        if isinstance(retry_after, int) and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        return cls(kind="status", status_code=status_code, retry_after=retry_after)

    @classmethod
    def html(cls, status_code: int = 502) -> Fault:
        """Answer *status_code* with an HTML page, as a proxy in front of the API would."""
        _check_error_status(status_code)
        return cls(kind="html", status_code=status_code)

    @classmethod
    def reply(cls, content: bytes | str, *, status_code: int = 200) -> Fault:
        """Answer *content* verbatim as ``application/json`` with *status_code*; nothing is
        applied. Serves a recorded real answer, or one the emulator would never build."""
        if not (status_code == 200 or 400 <= status_code <= 599):
            raise ValueError(f"a reply's status code must be 200 or in 400..599, got {status_code}")
        body = content.encode() if isinstance(content, str) else bytes(content)
        return cls(kind="reply", status_code=status_code, content=body)

    @classmethod
    def refuse(cls) -> Fault:
        """Refuse the connection before the request is sent; nothing is applied.

        In-process this surfaces as ``httpx.ConnectError``. A served emulator has already
        accepted the connection, so there it can only drop it, like [`drop`][].
        """
        return cls(kind="refuse")

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without an answer, before anything is applied."""
        return cls(kind="drop")

    @classmethod
    def apply_then_drop(cls) -> Fault:
        """Apply the operation, then close the connection without an answer."""
        return cls(kind="apply_then_drop")

    @classmethod
    def apply_then_stall(cls, seconds: float) -> Fault:
        """Apply the operation, then hold the answer back for *seconds*.

        Pick *seconds* above the client's read timeout: the client then times out although the
        operation happened. The answer is sent afterwards if anyone is still listening.
        """
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
        return cls(kind="apply_then_stall", stall_seconds=seconds)


def _check_error_status(status_code: int) -> None:
    if not 400 <= status_code <= 599:
        raise ValueError(f"a fault's status code must be in 400..599, got {status_code}")


@attrs.define
class _Injection:
    fault: Fault
    endpoint: str | None
    remaining: int


@attrs.define
class _RandomMode:
    rate: float
    faults: tuple[Fault, ...]
    endpoint: str | None


@attrs.define
class FaultPlan:
    """The queued and random faults of one emulator. Not thread-safe: the emulator locks it."""

    rng: random.Random
    _queue: list[_Injection] = attrs.field(factory=list[_Injection])
    _random: _RandomMode | None = None

    def inject(self, fault: Fault, *, endpoint: str | None, times: int) -> None:
        """Queue *fault* for the next *times* requests to *endpoint* (None: any endpoint)."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        name = None if endpoint is None else canonical_endpoint(endpoint)
        self._queue.append(_Injection(fault, name, times))

    def inject_randomly(self, rate: float, faults: Sequence[Fault], endpoint: str | None) -> None:
        """Fail a *rate* share of requests to *endpoint* with a fault drawn from *faults*."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate!r}")
        if not faults:
            raise ValueError("faults must not be empty")
        name = None if endpoint is None else canonical_endpoint(endpoint)
        self._random = _RandomMode(rate, tuple(faults), name)

    def reset(self) -> None:
        """Forget queued faults and switch random mode off."""
        self._queue.clear()
        self._random = None

    @property
    def pending(self) -> int:
        """How many queued injections are still to be consumed."""
        return sum(injection.remaining for injection in self._queue)

    def take(self, endpoint: str) -> Fault | None:
        """Return the fault for one request to *endpoint*, consuming it; queued faults first."""
        for index, injection in enumerate(self._queue):
            if injection.endpoint in (None, endpoint):
                injection.remaining -= 1
                if injection.remaining == 0:
                    del self._queue[index]
                return injection.fault
        mode = self._random
        if mode is None or mode.endpoint not in (None, endpoint):
            return None
        # Draw both numbers on every eligible request so the sequence depends only on the seed
        # and the request order, not on which earlier draws happened to fail.
        roll = self.rng.random()
        choice = self.rng.choice(mode.faults)
        return choice if roll < mode.rate else None
