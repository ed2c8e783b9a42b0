"""Retry rules: what is retried, how many times, how long the waits are, and what is never retried.

Backoff is switched off (``set_testing``) so retries cost nothing; the waits the client *chose*
are read through ``RetryPolicy(on_retry=...)``.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from _support import (
    READS,
    WRITES,
    Server,
    always,
    answer_for,
    fail,
    ok,
    raw,
    rows_server,
    sequence,
)

import smspartner_async as sp

pytestmark = pytest.mark.usefixtures("no_backoff")


class Hook:
    """An ``on_retry`` hook that records what it is told."""

    def __init__(self, returns: float | None = None) -> None:
        self.calls: list[sp.RetryDetails] = []
        self.returns = returns

    def __call__(self, details: sp.RetryDetails) -> float | None:
        self.calls.append(details)
        return self.returns

    @property
    def delays(self) -> list[float]:
        return [d.delay for d in self.calls]


def policy(hook: Hook | None = None, **kwargs: object) -> sp.RetryPolicy:
    return sp.RetryPolicy(on_retry=hook, **kwargs)  # type: ignore[arg-type]


def raising(cls: type[httpx.TransportError]) -> Callable[[], BaseException]:
    return lambda: cls(f"{cls.__name__} in the test")


def too_many(seconds: str | None = None) -> httpx.Response:
    headers = {"Retry-After": seconds} if seconds is not None else {}
    return httpx.Response(429, json={"success": False, "code": 429}, headers=headers)


# -- backoff math -------------------------------------------------------------------------------


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    p = sp.RetryPolicy(initial_delay=0.5, max_delay=8.0, jitter=False)
    assert [p.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_with_jitter_stays_under_the_ceiling() -> None:
    p = sp.RetryPolicy(initial_delay=0.5, max_delay=8.0)
    random.seed(1234)
    for attempt in range(1, 12):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        samples = [p.backoff(attempt) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 100  # spread out, not a constant
        assert max(samples) > ceiling / 2


def test_backoff_zero_delays() -> None:
    assert sp.RetryPolicy(initial_delay=0, jitter=False).backoff(5) == 0
    assert sp.RetryPolicy(max_delay=0).backoff(5) == 0


def test_backoff_of_a_very_late_attempt_is_capped() -> None:
    p = sp.RetryPolicy(max_attempts=5000, jitter=False)
    assert p.backoff(5000) == 8.0
    assert 0 <= sp.RetryPolicy(max_attempts=5000).backoff(5000) <= 8.0


def test_retry_policy_repr_and_defaults() -> None:
    assert repr(sp.RetryPolicy()) == (
        "RetryPolicy(max_attempts=4, initial_delay=0.5, max_delay=8.0, jitter=True, on_retry=None)"
    )


# -- reads: retried on connection errors, timeouts, 429, 5xx -----------------------------------

READ_FAILURES = [
    pytest.param(raising(httpx.ConnectError), sp.APIConnectionError, id="ConnectError"),
    pytest.param(raising(httpx.ConnectTimeout), sp.APITimeoutError, id="ConnectTimeout"),
    pytest.param(raising(httpx.ReadTimeout), sp.APITimeoutError, id="ReadTimeout"),
    pytest.param(raising(httpx.WriteTimeout), sp.APITimeoutError, id="WriteTimeout"),
    pytest.param(raising(httpx.PoolTimeout), sp.APITimeoutError, id="PoolTimeout"),
    pytest.param(raising(httpx.ReadError), sp.APIConnectionError, id="ReadError"),
    pytest.param(raising(httpx.RemoteProtocolError), sp.APIConnectionError, id="RemoteProtocol"),
    pytest.param(too_many(), sp.RateLimitError, id="429"),
    pytest.param(fail(None, "x", status=500), sp.ServerError, id="500"),
    pytest.param(raw("<html>bad gateway</html>", 502), sp.ServerError, id="502"),
    pytest.param(raw("", 503), sp.ServerError, id="503"),
    pytest.param(raw("", 504), sp.ServerError, id="504"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("failure", "cls"), READ_FAILURES)
@pytest.mark.parametrize("endpoint", list(READS))
async def test_reads_retry_up_to_max_attempts(
    endpoint: str,
    failure: httpx.Response | Callable[[], BaseException],
    cls: type[sp.SMSPartnerError],
) -> None:
    hook = Hook()
    server = Server(always(failure))
    async with server.client(retry=policy(hook)) as client:
        with pytest.raises(cls) as info:
            await READS[endpoint](client)
    assert type(info.value) is cls
    assert server.count == 4
    assert [d.attempt for d in hook.calls] == [1, 2, 3]
    assert all(d.endpoint == endpoint for d in hook.calls)
    assert all(type(d.error) is cls for d in hook.calls)
    if isinstance(info.value, sp.APIConnectionError):
        assert isinstance(info.value.__cause__, httpx.TransportError)


@pytest.mark.anyio
@pytest.mark.parametrize("attempts", [1, 2, 3, 6])
async def test_max_attempts_is_the_number_of_requests(attempts: int) -> None:
    server = Server(always(raising(httpx.ConnectError)))
    async with server.client(retry=sp.RetryPolicy(max_attempts=attempts)) as client:
        with pytest.raises(sp.APIConnectionError):
            await client.account()
    assert server.count == attempts


@pytest.mark.anyio
async def test_max_attempts_one_turns_retries_off() -> None:
    hook = Hook()
    for failure in (too_many("1"), raw("", 503), raising(httpx.ReadTimeout)):
        server = Server(always(failure))
        async with server.client(retry=policy(hook, max_attempts=1)) as client:
            with pytest.raises(sp.SMSPartnerError):
                await client.subaccounts.list_page()
        assert server.count == 1
    assert hook.calls == []


@pytest.mark.anyio
async def test_read_recovers_after_transient_failures() -> None:
    hook = Hook()
    server = Server(
        sequence(
            httpx.ConnectError("refused"),
            raw("", 502),
            too_many(),
            ok(total=1, nb_per_page=20, page=1, data=[]),
        )
    )
    async with server.client(retry=policy(hook)) as client:
        page = await client.subaccounts.list_page()
    assert page.total == 1
    assert server.count == 4
    assert [type(d.error) for d in hook.calls] == [
        sp.APIConnectionError,
        sp.ServerError,
        sp.RateLimitError,
    ]
    # every attempt sends the very same request
    assert len({str(r.url) for r in server.requests}) == 1


@pytest.mark.anyio
async def test_pagination_retries_a_page_transparently() -> None:
    pages = rows_server(41)
    failed: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        number = request.url.params["page"]
        if number == "2" and number not in failed:
            failed.add(number)
            return raw("", 503)
        return pages(request)

    server = Server(handler)
    async with server.client() as client:
        ids = [s.id async for s in client.subaccounts.list()]
    assert ids == list(range(1, 42))
    assert server.count == 4


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(fail(10, "Clé API incorrecte"), id="200-code-10"),
        pytest.param(fail(1, "x", status=400), id="400"),
        pytest.param(raw("", 404), id="404"),
        pytest.param(raw("<html>", 200), id="decode"),
    ],
)
@pytest.mark.parametrize("endpoint", list(READS))
async def test_reads_are_not_retried_on_refusals_or_bad_answers(
    endpoint: str, answer: httpx.Response
) -> None:
    server = Server(always(answer))
    async with server.client() as client:
        with pytest.raises(sp.SMSPartnerError):
            await READS[endpoint](client)
    assert server.count == 1


# -- writes: retried only where the server cannot have acted ------------------------------------

NOT_SENT = [
    pytest.param(raising(httpx.ConnectError), sp.APIConnectionError, id="ConnectError"),
    pytest.param(raising(httpx.ConnectTimeout), sp.APITimeoutError, id="ConnectTimeout"),
    pytest.param(raising(httpx.PoolTimeout), sp.APITimeoutError, id="PoolTimeout"),
    pytest.param(too_many(), sp.RateLimitError, id="429"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("failure", "cls"), NOT_SENT)
async def test_writes_retry_when_the_request_never_reached_the_server(
    failure: httpx.Response | Callable[[], BaseException],
    cls: type[sp.SMSPartnerError],
) -> None:
    for endpoint, call in WRITES.items():
        hook = Hook()
        server = Server(always(failure))
        async with server.client(retry=policy(hook)) as client:
            with pytest.raises(cls) as info:
                await call(client)
        assert type(info.value) is cls, endpoint
        assert server.count == 4, endpoint
        assert len(hook.calls) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", list(WRITES))
async def test_write_succeeds_after_connect_failures(endpoint: str) -> None:
    failures = iter([httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])

    def handler(request: httpx.Request) -> httpx.Response:
        for failure in failures:
            raise failure
        return answer_for(request)

    server = Server(handler)
    async with server.client() as client:
        await WRITES[endpoint](client)
    assert server.count == 3
    assert len({r.content for r in server.requests}) == 1


SENT = [
    pytest.param(raising(httpx.ReadTimeout), sp.APITimeoutError, id="ReadTimeout"),
    pytest.param(raising(httpx.WriteTimeout), sp.APITimeoutError, id="WriteTimeout"),
    pytest.param(raising(httpx.RemoteProtocolError), sp.APIConnectionError, id="RemoteProtocol"),
    pytest.param(raising(httpx.ReadError), sp.APIConnectionError, id="ReadError"),
    pytest.param(raising(httpx.WriteError), sp.APIConnectionError, id="WriteError"),
    pytest.param(fail(None, "x", status=500), sp.ServerError, id="500"),
    pytest.param(raw("<html>bad gateway</html>", 502), sp.ServerError, id="502"),
    pytest.param(raw("", 503, **{"Retry-After": "1"}), sp.ServerError, id="503"),
    pytest.param(raw("", 504), sp.ServerError, id="504"),
    pytest.param(raw("<html>ok</html>", 200), sp.DecodeError, id="200-html"),
    pytest.param(raw('{"success": true, "co', 200), sp.DecodeError, id="200-truncated"),
    pytest.param(raw('{"success": 1, "code": 200}'), sp.DecodeError, id="200-success-not-bool"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("failure", "cause"), SENT)
async def test_writes_never_retry_once_the_server_may_have_acted(
    failure: httpx.Response | Callable[[], BaseException],
    cause: type[sp.SMSPartnerError],
) -> None:
    for endpoint, call in WRITES.items():
        hook = Hook()
        server = Server(always(failure))
        async with server.client(retry=policy(hook)) as client:
            with pytest.raises(sp.OutcomeUnknownError) as info:
                await call(client)
        assert server.count == 1, endpoint
        assert hook.calls == []
        error = info.value
        assert error.endpoint == endpoint
        assert type(error.__cause__) is cause
        if isinstance(error.__cause__, sp.APIConnectionError):
            assert isinstance(error.__cause__.__cause__, httpx.TransportError)
        assert "may have been applied" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ["subaccount/create", "subaccount/credit/remove"])
async def test_writes_with_a_success_answer_missing_fields_are_outcome_unknown(
    endpoint: str,
) -> None:
    server = Server(always(ok(unexpected="shape")))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await WRITES[endpoint](client)
    assert isinstance(info.value.__cause__, sp.DecodeError)
    assert server.count == 1


@pytest.mark.anyio
async def test_write_retried_after_a_connect_error_then_lost_is_outcome_unknown() -> None:
    server = Server(sequence(httpx.ConnectError("refused"), too_many(), httpx.ReadTimeout("lost")))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await client.subaccounts.add_credit("tok", "10")
    assert server.count == 3
    assert isinstance(info.value.__cause__, sp.APITimeoutError)


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", list(WRITES))
async def test_writes_are_not_retried_on_refusals(endpoint: str) -> None:
    server = Server(always(fail(10, "Clé API incorrecte", status=401)))
    async with server.client() as client:
        with pytest.raises(sp.AuthenticationError):
            await WRITES[endpoint](client)
    assert server.count == 1


# -- Retry-After --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ["subaccount/list", "subaccount/credit/add"])
async def test_retry_after_seconds_replaces_backoff(endpoint: str) -> None:
    hook = Hook()
    server = Server(sequence(too_many("30"), too_many("0"), too_many("2.5"), answer_for_any()))
    calls = {**READS, **WRITES}
    async with server.client(retry=policy(hook, max_delay=1.0)) as client:
        await calls[endpoint](client)
    # not capped by max_delay, no jitter
    assert hook.delays == [30.0, 0.0, 2.5]
    assert [d.retry_after for d in hook.calls] == [30.0, 0.0, 2.5]
    assert server.count == 4


def answer_for_any() -> httpx.Response:
    return ok(
        total=0,
        nb_per_page=20,
        page=1,
        data=[],
        credit=1,
        subaccountCredit=1,
        currency="EUR",
    )


@pytest.mark.anyio
async def test_retry_after_http_date_replaces_backoff() -> None:
    hook = Hook()
    when = datetime.now(UTC) + timedelta(seconds=30)
    server = Server(sequence(too_many(format_datetime(when, usegmt=True)), answer_for_any()))
    async with server.client(retry=policy(hook, max_delay=1.0)) as client:
        await client.subaccounts.list_page()
    [details] = hook.calls
    assert 20.0 < details.delay <= 30.0
    assert details.delay == details.retry_after


@pytest.mark.anyio
async def test_retry_after_date_in_the_past_means_now() -> None:
    hook = Hook()
    server = Server(sequence(too_many("Wed, 21 Oct 2015 07:28:00 GMT"), answer_for_any()))
    async with server.client(retry=policy(hook)) as client:
        await client.subaccounts.list_page()
    assert hook.delays == [0.0]


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["soon", "", "nan", "inf", "Mon, 99 Foo 2015"])
async def test_invalid_retry_after_falls_back_on_backoff(value: str) -> None:
    hook = Hook()
    server = Server(sequence(too_many(value), answer_for_any()))
    async with server.client(retry=policy(hook, initial_delay=0.5)) as client:
        await client.subaccounts.list_page()
    [details] = hook.calls
    assert details.retry_after is None
    assert 0 <= details.delay <= 0.5


@pytest.mark.anyio
async def test_retry_after_of_sixty_seconds_is_waited() -> None:
    hook = Hook()
    server = Server(sequence(too_many("60"), answer_for_any()))
    async with server.client(retry=policy(hook)) as client:
        await client.subaccounts.list_page()
    assert hook.delays == [60.0]


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ["subaccount/list", "me", "subaccount/credit/add"])
@pytest.mark.parametrize("value", ["61", "3600"])
async def test_retry_after_beyond_sixty_seconds_raises_at_once(endpoint: str, value: str) -> None:
    hook = Hook()
    server = Server(always(too_many(value)))
    calls = {**READS, **WRITES}
    async with server.client(retry=policy(hook)) as client:
        with pytest.raises(sp.RateLimitError) as info:
            await calls[endpoint](client)
    assert info.value.retry_after == float(value)
    assert server.count == 1
    assert hook.calls == []


@pytest.mark.anyio
async def test_retry_after_date_far_ahead_raises_at_once() -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    server = Server(always(too_many(format_datetime(when, usegmt=True))))
    async with server.client() as client:
        with pytest.raises(sp.RateLimitError) as info:
            await client.subaccounts.list_page()
    assert info.value.retry_after is not None
    assert 500 < info.value.retry_after <= 600
    assert server.count == 1


@pytest.mark.anyio
async def test_rate_limit_error_carries_retry_after_when_attempts_run_out() -> None:
    server = Server(always(too_many("5")))
    async with server.client(retry=sp.RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(sp.RateLimitError) as info:
            await client.subaccounts.list_page()
    assert info.value.retry_after == 5.0
    assert server.count == 2


@pytest.mark.anyio
async def test_retry_after_on_503_is_honoured_for_reads() -> None:
    hook = Hook()
    server = Server(sequence(raw("", 503, **{"Retry-After": "12"}), answer_for_any()))
    async with server.client(retry=policy(hook)) as client:
        await client.subaccounts.list_page()
    assert hook.delays == [12.0]


# -- the on_retry hook --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_on_retry_details() -> None:
    hook = Hook()
    server = Server(always(raising(httpx.ConnectError)))
    retry = policy(hook, max_attempts=5, initial_delay=0.25, max_delay=1.0, jitter=False)
    async with server.client(retry=retry) as client:
        with pytest.raises(sp.APIConnectionError) as info:
            await client.subaccounts.list_page()
    assert [(d.endpoint, d.attempt, d.delay, d.retry_after) for d in hook.calls] == [
        ("subaccount/list", 1, 0.25, None),
        ("subaccount/list", 2, 0.5, None),
        ("subaccount/list", 3, 1.0, None),
        ("subaccount/list", 4, 1.0, None),
    ]
    assert all(isinstance(d.error, sp.APIConnectionError) for d in hook.calls)
    assert hook.calls[-1].error is not info.value  # one error per attempt


@pytest.mark.anyio
async def test_on_retry_may_choose_the_wait(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="smspartner_async")
    hook = Hook(returns=1.25)
    server = Server(sequence(raw("", 500), answer_for_any()))
    async with server.client(retry=policy(hook)) as client:
        await client.subaccounts.list_page()
    assert "retrying in 1.25 s (attempt 2 of 4)" in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("returns", "waited"),
    [(math.inf, "3600.00"), (10**400, "3600.00"), (-5, "0.00"), (math.nan, "0.50"), ("9", "0.50")],
)
async def test_a_wait_chosen_by_on_retry_is_held_in_bounds(
    caplog: pytest.LogCaptureFixture, returns: object, waited: str
) -> None:
    caplog.set_level(logging.WARNING, logger="smspartner_async")
    hook = Hook(returns=returns)  # type: ignore[arg-type]
    server = Server(sequence(raw("", 500), answer_for_any()))
    async with server.client(retry=policy(hook, jitter=False)) as client:
        await client.subaccounts.list_page()
    assert f"retrying in {waited} s (attempt 2 of 4)" in caplog.text


@pytest.mark.anyio
async def test_on_retry_exception_propagates() -> None:
    def hook(details: sp.RetryDetails) -> float | None:
        raise KeyError("stop")

    server = Server(always(raw("", 500)))
    async with server.client(retry=sp.RetryPolicy(on_retry=hook)) as client:
        with pytest.raises(KeyError):
            await client.subaccounts.list_page()
    assert server.count == 1


@pytest.mark.anyio
async def test_real_sleep_path_with_zero_delays() -> None:
    # Without set_testing the client sleeps for real; zero delays keep this instant.
    sp.set_testing(False)
    hook = Hook(returns=0.0)
    server = Server(sequence(raw("", 500), raw("", 500), answer_for_any()))
    async with server.client(retry=policy(hook)) as client:
        await client.subaccounts.list_page()
    assert server.count == 3
    assert len(hook.calls) == 2
