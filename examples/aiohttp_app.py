"""An aiohttp service in front of SMS Partner sub-accounts, with one shared client.

The same service as ``fastapi_app.py``. Run it against the real API on port 8080::

    SMSPARTNER_API_KEY=... python examples/aiohttp_app.py

What it shows:

- one ``AsyncSMSPartner`` for the application's lifetime, created and closed by the app's
  ``cleanup_ctx`` and read from ``request.app[CLIENT]`` by handlers;
- ``GET /subaccounts``: every sub-account streamed as NDJSON while the paginator walks the
  pages;
- ``GET /subaccounts/pages/{page}``: one page, as JSON;
- ``POST /subaccounts/{token}/credit``: one top-up;
- ``POST /subaccounts/credit``: many top-ups at once through ``bulk_add_credit``, with every
  item's outcome (applied, failed, unknown) in the answer;
- the library's errors turned into HTTP answers by one middleware (``ERROR_STATUS``).

On asyncio, with ``smspartner-async[aiohttp]`` installed, the client itself sends through
aiohttp too. The client comes from a factory, so tests hand in one wired to the emulator::

    app = create_app(lambda: Emulator().client())
"""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from aiohttp import web

import smspartner_async as sp

ClientFactory = Callable[[], sp.AsyncSMSPartner]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLIENT = web.AppKey("smspartner", sp.AsyncSMSPartner)

# Most specific first: the first class the error is an instance of decides.
ERROR_STATUS: list[tuple[type[sp.SMSPartnerError], int]] = [
    (sp.ValidationError, 422),  # the caller's input; nothing was sent
    (sp.NotFoundError, 404),
    (sp.InsufficientCreditError, 409),
    (sp.ConflictError, 409),
    (sp.InvalidRequestError, 400),
    (sp.RateLimitError, 429),
    # Our key, or our account's settings, were refused: the caller can do nothing about it.
    (sp.AuthenticationError, 502),
    (sp.PermissionDeniedError, 502),
    (sp.OutcomeUnknownError, 502),
    (sp.APITimeoutError, 504),
    (sp.APIConnectionError, 503),
    (sp.SMSPartnerError, 502),  # ServerError, DecodeError, RouteNotFoundError, and the rest
]


def error_answer(exc: sp.SMSPartnerError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """HTTP status, JSON body and headers for a library error. Messages never hold the key."""
    status = next(code for cls, code in ERROR_STATUS if isinstance(exc, cls))
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, sp.ValidationError):
        error["field"] = exc.field
    if isinstance(exc, sp.APIError):
        error["code"] = exc.code
    if isinstance(exc, sp.OutcomeUnknownError):
        if isinstance(exc.__cause__, sp.APITimeoutError):
            status = 504
        error["outcome"] = "unknown"
        error["advice"] = "it may have been applied: check the balance before retrying"
    if isinstance(exc, sp.RateLimitError | sp.APIConnectionError):
        retry_after = getattr(exc, "retry_after", None)
        headers["Retry-After"] = str(max(1, round(retry_after or 1)))
    return status, {"error": error}, headers


def subaccount_json(sub: sp.Subaccount) -> dict[str, Any]:
    """A sub-account for the outside world: money as a string, and never its API key."""
    return {
        "id": sub.id,
        "email": sub.email,
        "type": sub.type,
        "token": sub.token,
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
        "balance": str(sub.credits.balance),
        "currency": sub.credits.currency,
    }


def result_json(result: sp.BulkResult) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "token": result.token,
        "amount": str(result.amount),
        "status": result.status,
        "sent": result.sent,
    }
    if result.transfer is not None:
        answer["subaccount_balance"] = str(result.transfer.subaccount_balance)
    if result.error is not None:
        answer["error"] = {"type": type(result.error).__name__, "message": str(result.error)}
    return answer


def bad_request(message: str) -> web.HTTPUnprocessableEntity:
    body = {"error": {"type": "BadRequest", "message": message}}
    return web.HTTPUnprocessableEntity(text=json.dumps(body), content_type="application/json")


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("the body must be JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return cast("dict[str, Any]", body)


@web.middleware
async def smspartner_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except sp.SMSPartnerError as exc:
        status, body, headers = error_answer(exc)
        return web.json_response(body, status=status, headers=headers)


async def list_subaccounts(request: web.Request) -> web.StreamResponse:
    """Every sub-account, one JSON object a line, streamed as the pages arrive."""
    rows = aiter(request.app[CLIENT].subaccounts.list(prefetch=4))
    # Fetch the first page before answering: a refused key or an unreachable API still gets
    # a proper status code. Past that point the status is sent, so a later failure ends the
    # stream with an {"error": ...} line instead.
    first = await anext(rows, None)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    if first is not None:
        await response.write(json.dumps(subaccount_json(first)).encode() + b"\n")
        try:
            async for sub in rows:
                await response.write(json.dumps(subaccount_json(sub)).encode() + b"\n")
        except sp.SMSPartnerError as exc:
            await response.write(json.dumps(error_answer(exc)[1]).encode() + b"\n")
    await response.write_eof()
    return response


async def list_page(request: web.Request) -> web.Response:
    """One page of 20 sub-accounts, with the total across all pages."""
    page = int(request.match_info["page"])  # the route only matches digits
    result = await request.app[CLIENT].subaccounts.list_page(page)
    return web.json_response(
        {
            "total": result.total,
            "per_page": result.per_page,
            "page": result.page,
            "items": [subaccount_json(sub) for sub in result.items],
        }
    )


async def add_credit(request: web.Request) -> web.Response:
    """One top-up. A lost answer is a 502/504 saying the outcome is unknown, never a retry."""
    body = await json_object(request)
    if "amount" not in body:
        raise bad_request("amount is required")
    token = request.match_info["token"]
    # A string ("2.5") keeps the exact amount; the library refuses what is not money.
    transfer = await request.app[CLIENT].subaccounts.add_credit(token, body["amount"])
    return web.json_response(
        {
            "account_balance": str(transfer.account_balance),
            "subaccount_balance": str(transfer.subaccount_balance),
            "currency": transfer.currency,
        }
    )


async def bulk_add_credit(request: web.Request) -> web.Response:
    """Many top-ups at once; 200 when all were applied, 207 with each item's outcome if not."""
    body = await json_object(request)
    amounts = body.get("amounts")
    concurrency = body.get("concurrency", 16)
    if not isinstance(amounts, dict):
        raise bad_request("amounts must be an object: sub-account token -> euros")
    if not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise bad_request("concurrency must be an integer from 1 to 64")
    # The amounts are checked by the library: a bad one is a ValidationError naming its token.
    amounts = cast("dict[str, Any]", amounts)
    client = request.app[CLIENT]
    report = await client.subaccounts.bulk_add_credit(amounts, concurrency=concurrency)
    answer = {
        "ok": report.ok,
        "applied": len(report.applied),
        "failed": len(report.failed),
        "unknown": len(report.unknown),
        "applied_amount": str(report.applied_amount),
        "unknown_amount": str(report.unknown_amount),
        "results": [result_json(result) for result in report.results],
    }
    return web.json_response(answer, status=200 if report.ok else 207)


async def account(request: web.Request) -> web.Response:
    """The main account's balance."""
    info = await request.app[CLIENT].account()
    return web.json_response(
        {"username": info.username, "balance": str(info.balance), "currency": info.currency}
    )


def create_app(client_factory: ClientFactory = sp.AsyncSMSPartner) -> web.Application:
    """The application; ``client_factory`` makes its one client when the app starts."""

    async def smspartner_client(app: web.Application) -> AsyncIterator[None]:
        async with client_factory() as client:
            app[CLIENT] = client
            yield

    app = web.Application(middlewares=[smspartner_errors])
    app.cleanup_ctx.append(smspartner_client)
    app.add_routes(
        [
            web.get("/account", account),
            web.get("/subaccounts", list_subaccounts),
            web.get(r"/subaccounts/pages/{page:\d+}", list_page),
            web.post("/subaccounts/credit", bulk_add_credit),
            web.post("/subaccounts/{token}/credit", add_credit),
        ]
    )
    return app


if __name__ == "__main__":
    web.run_app(create_app())
