"""A FastAPI service in front of SMS Partner sub-accounts, with one shared client.

Run it against the real API (needs ``pip install smspartner-async fastapi uvicorn``)::

    SMSPARTNER_API_KEY=... uvicorn examples.fastapi_app:app

or, with no code change, against an emulator served in another shell
(``smspartner-async emulator --port 8765 --seed-subaccounts 45``)::

    SMSPARTNER_BASE_URL=http://127.0.0.1:8765/v1/ SMSPARTNER_API_KEY=emulator-api-key \
        uvicorn examples.fastapi_app:app

What it shows:

- one ``AsyncSMSPartner`` for the application's lifetime, opened and closed by the lifespan
  and handed to routes through a dependency (``Client`` below);
- ``GET /subaccounts``: every sub-account streamed as NDJSON while the paginator walks the
  pages;
- ``GET /subaccounts/pages/{page}``: one page, as JSON;
- ``POST /subaccounts/{token}/credit``: one top-up;
- ``POST /subaccounts/credit``: many top-ups at once through ``bulk_add_credit``, with every
  item's outcome (applied, failed, unknown) in the answer;
- the library's errors turned into HTTP answers (``ERROR_STATUS``).

The client comes from a factory, so tests hand in one wired to the emulator::

    app = create_app(lambda: Emulator().client())
"""

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

import smspartner_async as sp

ClientFactory = Callable[[], sp.AsyncSMSPartner]

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


class TopUp(BaseModel):
    # A string ("2.5") keeps the exact amount; the library refuses what is not money.
    amount: Decimal | str


class BulkTopUp(BaseModel):
    amounts: dict[str, Decimal | str] = Field(description="sub-account token -> euros")
    concurrency: int = Field(default=16, ge=1, le=64)


def get_client(request: Request) -> sp.AsyncSMSPartner:
    client: sp.AsyncSMSPartner = request.app.state.smspartner
    return client


Client = Annotated[sp.AsyncSMSPartner, Depends(get_client)]


async def list_subaccounts(client: Client) -> Response:
    """Every sub-account, one JSON object a line, streamed as the pages arrive."""
    rows = aiter(client.subaccounts.list(prefetch=4))
    # Fetch the first page before answering: a refused key or an unreachable API still gets
    # a proper status code. Past that point the status is sent, so a later failure ends the
    # stream with an {"error": ...} line instead.
    first = await anext(rows, None)

    async def lines() -> AsyncIterator[str]:
        if first is None:
            return
        yield json.dumps(subaccount_json(first)) + "\n"
        try:
            async for sub in rows:
                yield json.dumps(subaccount_json(sub)) + "\n"
        except sp.SMSPartnerError as exc:
            yield json.dumps(error_answer(exc)[1]) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def list_page(client: Client, page: int) -> dict[str, Any]:
    """One page of 20 sub-accounts, with the total across all pages."""
    result = await client.subaccounts.list_page(page)
    return {
        "total": result.total,
        "per_page": result.per_page,
        "page": result.page,
        "items": [subaccount_json(sub) for sub in result.items],
    }


async def add_credit(client: Client, token: str, body: TopUp) -> dict[str, Any]:
    """One top-up. A lost answer is a 502/504 saying the outcome is unknown, never a retry."""
    transfer = await client.subaccounts.add_credit(token, body.amount)
    return {
        "account_balance": str(transfer.account_balance),
        "subaccount_balance": str(transfer.subaccount_balance),
        "currency": transfer.currency,
    }


async def bulk_add_credit(
    client: Client,
    body: BulkTopUp,
    response: Response,
) -> dict[str, Any]:
    """Many top-ups at once; 200 when all were applied, 207 with each item's outcome if not."""
    report = await client.subaccounts.bulk_add_credit(
        body.amounts,
        concurrency=body.concurrency,
    )
    response.status_code = 200 if report.ok else 207
    return {
        "ok": report.ok,
        "applied": len(report.applied),
        "failed": len(report.failed),
        "unknown": len(report.unknown),
        "applied_amount": str(report.applied_amount),
        "unknown_amount": str(report.unknown_amount),
        "results": [result_json(result) for result in report.results],
    }


async def account(client: Client) -> dict[str, Any]:
    """The main account's balance."""
    info = await client.account()
    return {"username": info.username, "balance": str(info.balance), "currency": info.currency}


async def smspartner_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sp.SMSPartnerError)
    status, body, headers = error_answer(exc)
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(client_factory: ClientFactory = sp.AsyncSMSPartner) -> FastAPI:
    """The application; ``client_factory`` makes its one client when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
        async with client_factory() as client:
            app.state.smspartner = client
            yield

    app = FastAPI(title="Sub-accounts", lifespan=lifespan)
    app.add_exception_handler(sp.SMSPartnerError, smspartner_error)
    app.get("/account")(account)
    app.get("/subaccounts")(list_subaccounts)
    app.get("/subaccounts/pages/{page}")(list_page)
    app.post("/subaccounts/credit")(bulk_add_credit)
    app.post("/subaccounts/{token}/credit")(add_credit)
    return app


# The client is made at start-up, not import: importing this module needs no API key.
app = create_app()
