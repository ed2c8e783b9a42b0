"""Every call ends in a model or a library error; a write ends in success, a refusal that proves
nothing was applied, or ``OutcomeUnknownError`` — whatever the server, the wire or the caller's
own http client does once the request may have left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import anyio
import httpx
import pytest
from _support import (
    BASE_URL,
    CANARY,
    CREATED,
    ME,
    TRANSFER,
    WRITES,
    Server,
    always,
    page_answer,
    raw,
)
from _wire import Exchange, raw_server, response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smspartner_async as sp

#: A success answer for every endpoint at once: each decoder finds its fields in it.
SUCCESS = {
    "success": True,
    "code": 200,
    **CREATED,
    **TRANSFER,
    **ME,
    **page_answer([1], total=1).json(),
}
HUGE_EXPONENT = b'{"success": true, "code": 200, "credit": 1, "x": 1e9999999999999999999}'


def success_body(**extra: object) -> bytes:
    return json.dumps({**SUCCESS, **extra}).encode()


@pytest.fixture(autouse=True)
def _fast_retries(no_backoff: None) -> None:
    """Retries as in production, without the waits."""


# -- 1. no foreign exception escapes ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", sorted(WRITES))
async def test_a_body_not_in_its_content_encoding_makes_a_write_unknown(endpoint: str) -> None:
    # httpx decodes as it builds the response: inside the transport, below the pipeline.
    server = Server(lambda request: raw(success_body(), 200, **{"Content-Encoding": "gzip"}))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await WRITES[endpoint](client)
    assert isinstance(info.value.__cause__, sp.DecodeError)
    assert server.count == 1


@pytest.mark.anyio
async def test_a_body_not_in_its_content_encoding_is_a_decode_error_on_a_read() -> None:
    server = Server(lambda request: raw(success_body(), 200, **{"Content-Encoding": "deflate"}))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError):
            await client.account()
    assert server.count == 1  # an unreadable answer is not retried


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", sorted(WRITES))
async def test_a_number_decimal_cannot_hold_makes_a_write_unknown(endpoint: str) -> None:
    server = Server(always(raw(HUGE_EXPONENT)))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await WRITES[endpoint](client)
    assert isinstance(info.value.__cause__, sp.DecodeError)


@pytest.mark.anyio
async def test_a_number_decimal_cannot_hold_is_a_decode_error_on_a_read() -> None:
    server = Server(always(raw(HUGE_EXPONENT)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError):
            await client.account()


def raising_hook_client(server: Server) -> httpx.AsyncClient:
    async def check(response: httpx.Response) -> None:
        response.raise_for_status()

    return httpx.AsyncClient(transport=server.transport(), event_hooks={"response": [check]})


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", sorted(WRITES))
async def test_a_callers_response_hook_that_raises_makes_a_write_unknown(endpoint: str) -> None:
    server = Server(always(httpx.Response(502, text="bad gateway")))
    async with raising_hook_client(server) as http:
        client = sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, http_client=http)
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await WRITES[endpoint](client)
    cause = info.value.__cause__
    assert type(cause) is sp.SMSPartnerError
    assert "HTTPStatusError" in str(cause)
    assert server.count == 1


@pytest.mark.anyio
async def test_a_callers_response_hook_that_raises_on_a_read_is_a_library_error() -> None:
    server = Server(always(httpx.Response(502, text="bad gateway")))
    async with raising_hook_client(server) as http:
        client = sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, http_client=http)
        with pytest.raises(sp.SMSPartnerError) as info:
            await client.account()
    # The hook's error names the URL, key and all: the cause is a masked copy.
    assert CANARY not in repr(info.value.__cause__)
    assert "HTTPStatusError" in str(info.value)


@pytest.fixture(params=["gzip", "huge-exponent"])
def broken_answer(request: pytest.FixtureRequest) -> Iterator[bytes]:
    if request.param == "gzip":
        yield response(success_body(), **{"Content-Encoding": "gzip"})
    else:
        yield response(HUGE_EXPONENT)


@pytest.mark.anyio
async def test_an_undecodable_answer_on_the_wire_makes_a_write_unknown(
    anyio_backend: str, broken_answer: bytes
) -> None:
    """Through each backend's own transport (aiohttp on asyncio, httpx's own on trio)."""

    def answer(exchange: Exchange) -> None:
        exchange.send(broken_answer)

    with raw_server(answer) as server:
        async with sp.AsyncSMSPartner(api_key=CANARY, base_url=server.url) as client:
            with pytest.raises(sp.OutcomeUnknownError) as info:
                await client.subaccounts.add_credit("tok1", "25")
    assert isinstance(info.value.__cause__, sp.DecodeError)
    assert server.count == 1


# -- 2. contradictory answers are not refusals --------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("status", [301, 307, 400, 404, 409, 429])
@pytest.mark.parametrize("endpoint", sorted(WRITES))
async def test_a_success_body_under_an_error_status_makes_a_write_unknown(
    endpoint: str, status: int
) -> None:
    server = Server(always(raw(success_body(), status, **{"Retry-After": "0"})))
    async with server.client() as client:
        with pytest.raises(sp.OutcomeUnknownError) as info:
            await WRITES[endpoint](client)
    cause = info.value.__cause__
    assert isinstance(cause, sp.DecodeError)
    assert cause.status_code == status
    assert server.count == 1  # not even a 429 is retried when its body says it was applied


@pytest.mark.anyio
async def test_a_success_body_under_an_error_status_is_a_decode_error_on_a_read() -> None:
    server = Server(always(raw(success_body(), 404)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.account()
    assert "claims success" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"success": False, "code": 6, "message": "not enough"}),
        (400, {"success": False, "code": 6, "message": "not enough"}),
        (403, None),  # an error status, and a body that claims nothing
        (404, {"message": "no route"}),
    ],
)
async def test_an_unambiguous_refusal_stays_a_refusal(
    status: int, body: dict[str, object] | None
) -> None:
    content = b"<html>refused</html>" if body is None else json.dumps(body).encode()
    server = Server(always(raw(content, status)))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.add_credit("tok1", "25")
    assert info.value.status_code == status
    assert server.count == 1


# -- the property -------------------------------------------------------------------------------

statuses = st.one_of(
    st.sampled_from([200, 201, 204, 301, 302, 307, 400, 401, 404, 409, 422, 429, 500, 502, 503]),
    st.integers(min_value=200, max_value=599),
)
successes = st.sampled_from([True, False, None, 1, 0, "true", "false", [], {}])
json_bodies = st.builds(
    lambda success, extra, keep: json.dumps(
        {**({"success": success} if keep else {}), **extra}
    ).encode(),
    successes,
    st.dictionaries(
        st.sampled_from(["code", "message", "error", "credit", "subaccount", "data", "user"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=20),
            st.lists(st.dictionaries(st.text(max_size=8), st.text(max_size=8)), max_size=3),
        ),
    ),
    st.booleans(),
)
bodies = st.one_of(
    json_bodies,
    st.just(success_body()),
    st.just(HUGE_EXPONENT),
    st.binary(max_size=64),
    st.sampled_from([b"", b"[]", b"null", b"[" * 5000, b"\xff\xfe", b'{"success": true']).map(
        bytes
    ),
)
header_sets = st.dictionaries(
    st.sampled_from(["Content-Encoding", "Content-Type", "Retry-After", "Transfer-Encoding"]),
    st.sampled_from(["gzip", "deflate", "br", "identity", "x-unknown", "0", "1e999", "nonsense"]),
    max_size=3,
)


def claims_applied(status: int, body: bytes) -> bool:
    """Whether the answer says, or may mean, that the server applied the request."""
    if status >= 500:
        return True
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("success") is True


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    endpoint=st.sampled_from(sorted(WRITES)),
    status=statuses,
    headers=header_sets,
    body=bodies,
)
def test_any_answer_to_a_write_is_an_outcome_never_a_false_refusal(
    backend: str, endpoint: str, status: int, headers: dict[str, str], body: bytes
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body)

    server = Server(answer)

    async def main() -> object:
        async with server.client(retry=sp.RetryPolicy(max_attempts=2)) as client:
            try:
                return await WRITES[endpoint](client)
            except sp.SMSPartnerError as exc:
                return exc

    outcome = anyio.run(main, backend=backend)
    if isinstance(outcome, sp.APIError):
        assert not claims_applied(status, body), outcome
    if server.count > 1:  # only a refusal before processing may be sent again
        assert status == 429
        assert not claims_applied(status, body)
    if isinstance(outcome, sp.SMSPartnerError):
        assert CANARY not in f"{outcome}{outcome!r}"


@pytest.mark.anyio
async def test_a_callers_client_that_cannot_build_the_request_sends_nothing() -> None:
    class Broken(httpx.AsyncClient):
        def build_request(self, *args: object, **kwargs: object) -> httpx.Request:
            raise RuntimeError("no")

    server = Server(always(httpx.Response(200)))
    async with Broken(transport=server.transport()) as http:
        client = sp.AsyncSMSPartner(api_key=CANARY, base_url=BASE_URL, http_client=http)
        with pytest.raises(sp.SMSPartnerError) as info:
            await client.subaccounts.add_credit("tok1", "25")
    assert type(info.value) is sp.SMSPartnerError  # not unknown: nothing left
    assert server.count == 0


@pytest.mark.anyio
# Under trio, an httpx streamed answer abandoned before its end leaves httpx's nested async
# generators (Response.aiter_raw over BoundAsyncStream.__aiter__ over the transport's) unexhausted,
# and trio warns when they are collected: no public httpx API closes the inner ones. The answer
# is closed all the same (response.aclose()); only a caller's own client reads this way.
@pytest.mark.filterwarnings("ignore:Async generator:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_callers_own_transport_is_read_to_the_size_limit_too(anyio_backend: str) -> None:
    def endless(exchange: Exchange) -> None:
        exchange.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        while True:
            exchange.send(chunk)

    with raw_server(endless) as server:
        async with httpx.AsyncClient() as http:
            client = sp.AsyncSMSPartner(api_key=CANARY, base_url=server.url, http_client=http)
            with anyio.fail_after(60), pytest.raises(sp.DecodeError) as info:
                await client.account()
    assert "larger than" in str(info.value)


@pytest.mark.anyio
async def test_a_callers_own_transport_reads_a_plain_answer(anyio_backend: str) -> None:
    def answer(exchange: Exchange) -> None:
        exchange.send(response(success_body()))

    with raw_server(answer) as server:
        async with httpx.AsyncClient() as http:
            client = sp.AsyncSMSPartner(api_key=CANARY, base_url=server.url, http_client=http)
            info = await client.account()
    assert info.balance == Decimal("10225.119")
    assert server.requests[0].head.lower().count(b"accept-encoding: identity") == 1


# -- bounded errors -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_huge_server_message_is_kept_bounded() -> None:
    refusal = {"success": False, "code": 6, "message": "x" * 1_000_000}
    server = Server(always(httpx.Response(400, json=refusal)))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.add_credit("tok1", "25")
    assert 100 < len(info.value.message) <= 1000
    assert len(str(info.value)) < 1100


@pytest.mark.anyio
async def test_a_huge_list_of_details_is_kept_bounded() -> None:
    errors = [{"elementId": "e" * 3000, "message": "m" * 3000} for _ in range(500)]
    refusal = {"success": False, "code": 9, "error": errors}
    server = Server(always(httpx.Response(400, json=refusal)))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.add_credit("tok1", "25")
    details = info.value.details
    assert 0 < len(details) <= 50
    assert all(len(d.message) <= 1000 and len(d.element_id or "") <= 1000 for d in details)
    assert len(info.value.message) <= 1000
