"""The client's pace: a requests-per-second limit exact over any window, and a 429 with
``Retry-After`` that holds back every request, not only the one retried.

The limit is counted on the pacer's grants (the moment each request may leave; arrival times
at a server add the machine's scheduling jitter to them); the 429 pause on the emulator's
arrival times (``RecordedRequest.received_at``). The assertions are about how many
requests a window holds and about waits that cannot end early, never about how fast anything
ran.
"""

from __future__ import annotations

import pytest

import smspartner_async as sp
from smspartner_async.testing import Emulator, Fault

pytestmark = pytest.mark.anyio

ADD = "subaccount/credit/add"


def _starts(client: sp.AsyncSMSPartner) -> list[float]:
    """The start of every request the client sends, as its pacer grants it."""
    times: list[float] = []
    client._pacer.on_start = times.append  # the grants, exactly
    return times


def _busiest_second(times: list[float]) -> int:
    """The most arrivals any one-second window [t, t + 1) holds."""
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


async def test_no_second_sees_more_than_max_rate_requests() -> None:
    emu = Emulator(main_balance="1000")
    tokens = emu.seed_subaccounts(5)
    items = [(tokens[i % 5], 1) for i in range(24)]
    async with emu.client(max_rate=10) as client:
        times = _starts(client)
        report = await client.subaccounts.bulk_add_credit(items, concurrency=24)
    assert report.ok
    assert len(times) == len(emu.requests) == 24
    assert _busiest_second(times) == 10  # the limit, used in full, never passed
    assert max(times) - min(times) >= 2.0  # 24 requests at 10 a second: 3 windows


async def test_retries_count_against_the_limit() -> None:
    emu = Emulator(main_balance="1000")
    emu.seed_subaccounts(1)
    emu.inject(Fault.status(503), endpoint="subaccount/list", times=3)
    retry = sp.RetryPolicy(initial_delay=0, jitter=False)
    async with emu.client(max_rate=2, retry=retry) as client:
        times = _starts(client)
        await client.subaccounts.list_page()
    assert len(times) == len(emu.requests) == 4
    assert _busiest_second(times) == 2


async def test_a_429_with_retry_after_holds_back_every_worker() -> None:
    emu = Emulator(main_balance="1000")
    tokens = emu.seed_subaccounts(5)
    items = [(t, 1) for t in tokens] * 3
    emu.inject(Fault.status(429, retry_after=1), endpoint=ADD)
    async with emu.client() as client:
        report = await client.subaccounts.bulk_add_credit(items, concurrency=5)
    assert report.ok
    requests = emu.requests
    assert len(requests) == 16  # 15 items, one of them twice
    [refused] = [r for r in requests if r.fault is not None]
    after = sorted(r.received_at for r in requests if r.received_at > refused.received_at)
    # Once the 429 is read, nothing leaves for a second: every worker waits, so the arrivals
    # show a silence (less the moment it took to read the answer). Without the pause, the
    # 15 items go by in a few milliseconds.
    silence = max(b - a for a, b in zip([refused.received_at, *after], after, strict=False))
    assert silence >= 0.5
    assert len([t for t in after if t >= refused.received_at + 1]) >= 10


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
async def test_max_rate_is_validated(bad: object) -> None:
    with pytest.raises(sp.ValidationError, match="max_rate"):
        sp.AsyncSMSPartner(api_key="k", max_rate=bad)  # type: ignore[arg-type]
