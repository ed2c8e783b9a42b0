"""A canary API key must never show up in an error, a ``repr`` or a log record."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable

import httpx
import pytest
from _canary import traceback_locals
from _support import (
    ALL_CALLS,
    CANARY,
    SUB_CANARY,
    WRITES,
    Server,
    always,
    answer_for,
    ok,
    page_answer,
    raw,
    row,
)

import smspartner_async as sp
from smspartner_async._redact import _RedactApiKeys  # pyright: ignore[reportPrivateUsage]

pytestmark = pytest.mark.usefixtures("no_backoff")

SECRETS = (CANARY, SUB_CANARY)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def assert_error_clean(error: BaseException) -> None:
    """The error, everything it carries, and its whole printed traceback."""
    assert_clean(str(error))
    assert_clean(repr(error))
    assert_clean("".join(traceback.format_exception(error)))
    assert_clean(traceback_locals(error))
    for attr in ("message", "body", "errors", "details", "endpoint"):
        assert_clean(repr(getattr(error, attr, "")))
    if error.__cause__ is not None:
        assert_error_clean(error.__cause__)


def echo_url(request: httpx.Request) -> str:
    return f"failed: {request.method} {request.url} key={CANARY}"


def transport_error(cls: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise cls(echo_url(request), request=request)

    return handler


def echo_json(status: int, **extra: object) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={
                "success": False,
                "code": 10,
                "message": f"Clé API incorrecte: {CANARY} ({request.url})",
                "apiKey": CANARY,
                **extra,
            },
        )

    return handler


class OddConnectError(httpx.ConnectError):
    """A transport's own error class, with a constructor of its own."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"{detail} ({url})")


def odd_transport_error(request: httpx.Request) -> httpx.Response:
    raise OddConnectError(str(request.url), "no route")


def transport_error_without_request(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError(echo_url(request))


ERROR_PATHS: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "api-error-200": echo_json(200),
    "api-error-401": echo_json(401),
    "validation-shape": echo_json(
        200, error=[{"elementId": "apiKey", "message": f"{CANARY} n'est pas valide"}]
    ),
    "429": echo_json(429),
    "500": echo_json(500),
    "html-200": lambda r: raw(f"<html><p>{r.url}</p><p>apiKey={CANARY}</p></html>"),
    "html-502": lambda r: raw(f"<html>{r.url} {CANARY}</html>", 502),
    "json-echo-no-success": lambda r: httpx.Response(
        200, json={"apiKey": CANARY, "request": str(r.url)}
    ),
    "json-echo-bad-shape": lambda r: ok(
        apiKey=CANARY, subaccount={"apiKey": CANARY}, user={"apiKey": CANARY}, data=[CANARY]
    ),
    "ConnectError": transport_error(httpx.ConnectError),
    "ConnectTimeout": transport_error(httpx.ConnectTimeout),
    "ReadTimeout": transport_error(httpx.ReadTimeout),
    "RemoteProtocolError": transport_error(httpx.RemoteProtocolError),
    "ReadError": transport_error(httpx.ReadError),
    "ReadError-without-request": transport_error_without_request,
    "own-error-class": odd_transport_error,
}


@pytest.mark.anyio
@pytest.mark.parametrize("path", list(ERROR_PATHS))
async def test_no_error_shows_the_key(path: str) -> None:
    for endpoint, call in ALL_CALLS.items():
        if (endpoint, path) == ("subaccount/delete", "json-echo-bad-shape"):
            continue  # delete reads nothing but success: that answer is no error there
        server = Server(ERROR_PATHS[path])
        async with server.client(retry=sp.RetryPolicy(max_attempts=2)) as client:
            with pytest.raises(sp.SMSPartnerError) as info:
                await call(client)
        assert_error_clean(info.value)


@pytest.mark.anyio
async def test_server_message_is_kept_with_the_key_masked() -> None:
    server = Server(echo_json(200))
    async with server.client() as client:
        with pytest.raises(sp.AuthenticationError) as info:
            await client.account()
    assert info.value.message.startswith("Clé API incorrecte: ***")
    assert "apiKey=***" in info.value.message


@pytest.mark.anyio
async def test_details_are_masked() -> None:
    errors = [{"elementId": "apiKey", "message": f"{CANARY} n'est pas valide"}]
    server = Server(
        always(httpx.Response(200, json={"success": False, "code": 9, "error": errors}))
    )
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.add_credit("tok", 1)
    assert info.value.details == (sp.ErrorDetail("apiKey", "*** n'est pas valide"),)


@pytest.mark.anyio
async def test_an_element_id_echoing_the_key_is_masked() -> None:
    errors = [{"elementId": f"apiKey={CANARY}", "message": "invalide"}]
    errors.append({"elementId": CANARY, "message": "invalide"})
    server = Server(always(httpx.Response(200, json={"success": False, "error": errors})))
    async with server.client() as client:
        with pytest.raises(sp.APIError) as info:
            await client.subaccounts.add_credit("tok", 1)
    assert info.value.details == (
        sp.ErrorDetail("apiKey=***", "invalide"),
        sp.ErrorDetail("***", "invalide"),
    )
    assert_error_clean(info.value)


@pytest.mark.anyio
async def test_decode_error_body_masks_html_echo() -> None:
    server = Server(lambda r: raw(f"<html><p>{r.url}</p><p>{CANARY}</p></html>"))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.subaccounts.list_page()
    body = info.value.body
    assert_clean(body)
    assert "apiKey=***" in body
    assert "<p>***</p>" in body


@pytest.mark.anyio
async def test_decode_error_body_masks_json_echo_of_any_key() -> None:
    # a malformed list answer carrying sub-account keys and the account's own
    data = page_answer([1, 2], total="lots", page=1).json()  # type: ignore[arg-type]
    data["echo"] = {"apiKey": CANARY, "APIKEY": "other-secret", "api_key": CANARY}
    content = json.dumps(data, indent=1)
    server = Server(always(raw(content)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.subaccounts.list_page()
    body = info.value.body
    assert_clean(body)
    assert "other-secret" not in body
    assert '"apiKey": "***"' in body


@pytest.mark.anyio
async def test_decode_error_body_masks_a_key_cut_by_the_excerpt() -> None:
    padding = "x" * 480
    content = f'{{"pad": "{padding}", "apiKey": "{SUB_CANARY}"}}'
    server = Server(always(raw(content)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.account()
    assert SUB_CANARY[:6] not in info.value.body


@pytest.mark.anyio
@pytest.mark.parametrize("start", [490, 497, 499])
async def test_decode_error_body_masks_the_key_before_the_cut(start: int) -> None:
    # The key itself, under no apiKey name, starting just before the 500-character cut.
    content = f"<html>{'x' * (start - 6)}{CANARY} more</html>"
    server = Server(always(raw(content)))
    async with server.client() as client:
        with pytest.raises(sp.DecodeError) as info:
            await client.account()
    body = info.value.body
    assert body == (content[:start] + "*** more</html>")[:500]


@pytest.mark.anyio
async def test_outcome_unknown_chain_is_clean() -> None:
    for call in WRITES.values():
        server = Server(transport_error(httpx.ReadTimeout))
        async with server.client() as client:
            with pytest.raises(sp.OutcomeUnknownError) as info:
                await call(client)
        assert_error_clean(info.value)


@pytest.mark.anyio
async def test_retry_hook_sees_clean_errors() -> None:
    seen: list[str] = []
    retry = sp.RetryPolicy(on_retry=lambda d: seen.append(repr(d)))
    server = Server(transport_error(httpx.ConnectError))
    async with server.client(retry=retry) as client:
        with pytest.raises(sp.APIConnectionError):
            await client.subaccounts.list_page()
    assert len(seen) == 3
    for text in seen:
        assert_clean(text)


# -- reprs --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reprs_hide_keys() -> None:
    server = Server(answer_for)
    async with server.client() as client:
        page = await client.subaccounts.list_page()
        info = await client.account()
        transfer = await client.subaccounts.add_credit("tok", 1)
        created = await client.subaccounts.create("simple")
        subs = [s async for s in client.subaccounts.list()]
        texts = [
            repr(client),
            str(client),
            repr(client.subaccounts),
            repr(client.subaccounts.list()),
            repr(client.retry),
            repr(page),
            str(page),
            repr(info),
            repr(transfer),
            repr(created),
            repr(subs),
        ]
    for text in texts:
        assert_clean(text)
    sub = page.items[0]
    assert "api_key='***'" in repr(sub)
    assert sub.api_key == f"{SUB_CANARY}-1"  # kept, just not shown


def test_repr_of_a_hand_made_subaccount() -> None:
    from datetime import datetime  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    sub = sp.Subaccount(
        id=1,
        email="a@b.fr",
        type="simple",
        token="t",
        api_key=CANARY,
        created_at=datetime(2020, 1, 1),
        credits=sp.Credits(Decimal(1), "EUR"),
    )
    assert_clean(repr(sub))
    assert_clean(str(sub))
    assert_clean(f"{sub!r} {[sub]} { ({1: sub}) }")


def test_client_repr_with_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSPARTNER_API_KEY", CANARY)
    client = sp.AsyncSMSPartner()
    assert_clean(repr(client))
    assert_clean(repr(vars(client)))


def test_client_refuses_pickling() -> None:
    import pickle  # noqa: PLC0415

    with pytest.raises(TypeError):
        pickle.dumps(sp.AsyncSMSPartner(api_key=CANARY))


# -- logs ---------------------------------------------------------------------------------------


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(str(record.msg))
    return "\n".join(parts)


@pytest.mark.anyio
async def test_logs_at_debug_never_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    flaky = iter([httpx.ConnectError("refused"), raw("", 503)])

    def handler(request: httpx.Request) -> httpx.Response:
        for failure in flaky:
            if isinstance(failure, BaseException):
                raise failure
            return failure
        return answer_for(request)

    server = Server(handler)
    async with server.client() as client:
        await client.account()
        await client.subaccounts.list_page(2)
        [s async for s in client.subaccounts.list()]
        await client.subaccounts.add_credit("tok", 1)
        await client.subaccounts.delete("tok")
    text = log_text(caplog)
    assert_clean(text)
    # httpx's own request line was emitted, and redacted
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("HTTP Request: GET" in line and "apiKey=***" in line for line in lines), lines
    # our retry warnings were emitted too
    assert any(
        r.name == "smspartner_async" and "retrying" in r.getMessage() for r in caplog.records
    )


@pytest.mark.anyio
@pytest.mark.parametrize("path", list(ERROR_PATHS))
async def test_logs_on_error_paths_never_show_the_key(
    caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG)
    server = Server(ERROR_PATHS[path])
    async with server.client() as client:
        with pytest.raises(sp.SMSPartnerError) as info:
            await client.subaccounts.list_page()
        # a caller logging the error with its traceback
        logging.getLogger("app").exception("call failed", exc_info=info.value)
    assert_clean(log_text(caplog))


@pytest.mark.anyio
async def test_httpx_line_is_redacted_through_a_callers_http_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    server = Server(answer_for)
    http = httpx.AsyncClient(transport=server.transport())
    async with http, sp.AsyncSMSPartner(api_key=CANARY, http_client=http) as client:
        await client.subaccounts.list_page()
    assert caplog.records
    assert_clean(log_text(caplog))


@pytest.mark.anyio
async def test_subaccount_keys_in_list_answers_stay_out_of_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = Server(lambda r: ok(total=1, nb_per_page=20, page=1, data=[row(1)]))
    async with server.client() as client:
        [s async for s in client.subaccounts.list()]
    assert_clean(log_text(caplog))


def test_a_new_client_attaches_the_httpx_log_filter() -> None:
    httpx_logger = logging.getLogger("httpx")
    saved = list(httpx_logger.filters)
    for f in saved:
        httpx_logger.removeFilter(f)
    try:
        sp.AsyncSMSPartner(api_key=CANARY)
        assert sum(isinstance(f, _RedactApiKeys) for f in httpx_logger.filters) == 1
        sp.AsyncSMSPartner(api_key=CANARY)  # once per process, not once per client
        assert sum(isinstance(f, _RedactApiKeys) for f in httpx_logger.filters) == 1
    finally:
        for f in list(httpx_logger.filters):
            httpx_logger.removeFilter(f)
        for f in saved:
            httpx_logger.addFilter(f)
