"""The public API as a user's code sees it: type-checked (mypy --strict, pyright), never run.

Each ``assert_type`` pins what a user's ``reveal_type`` would show; a change to a public
signature that loosens or breaks a type fails the typecheck session.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from typing import Literal, assert_type

import httpx

import smspartner_async as sp
from smspartner_async.testing import Emulator


async def client_lifecycle() -> None:
    async with sp.AsyncSMSPartner(api_key="k", timeout=httpx.Timeout(5.0)) as client:
        assert_type(client, sp.AsyncSMSPartner)
        assert_type(client.subaccounts, sp.AsyncSubaccounts)
        assert_type(await client.account(), sp.AccountInfo)
        view = client.with_options(timeout=60.0, retry=sp.RetryPolicy(max_attempts=1))
        assert_type(view, sp.AsyncSMSPartner)
        assert_type(
            client.with_options(timeout=httpx.Timeout(5.0)).subaccounts, sp.AsyncSubaccounts
        )
    own = httpx.AsyncClient()
    sp.AsyncSMSPartner("k", http_client=own, retry=sp.RetryPolicy(max_attempts=1))
    await own.aclose()


async def subaccounts(subs: sp.AsyncSubaccounts, token: str) -> None:
    created = await subs.create(
        "advanced", email="a@b.fr", is_buyer=False, credit_to_attribute=Decimal("10")
    )
    assert_type(created, sp.CreatedSubaccount)
    assert_type(created.token, str)
    await subs.create("simple")

    page = await subs.list_page()
    assert_type(page, sp.SubaccountPage)
    assert_type(page.items, list[sp.Subaccount])
    assert_type(page.total, int)

    async for sub in subs.list(prefetch=4):
        assert_type(sub, sp.Subaccount)
        assert_type(sub.credits.balance, Decimal)
    async for whole in subs.list().pages():
        assert_type(whole, sp.SubaccountPage)
    async with subs.list(prefetch=8) as rows:
        async for row in rows:
            assert_type(row, sp.Subaccount)

    transfer = await subs.add_credit(token, Decimal("25"))
    assert_type(transfer, sp.CreditTransfer)
    assert_type(transfer.account_balance, Decimal)
    assert_type(await subs.remove_credit(token, "2.5"), sp.CreditTransfer)
    assert_type(await subs.add_credit(token, 3), sp.CreditTransfer)
    assert_type(await subs.delete(token), None)


async def bulk(subs: sp.AsyncSubaccounts) -> None:
    def progress(done: int, total: int) -> None: ...

    report = await subs.bulk_add_credit(
        {"t1": Decimal("5"), "t2": "1.5"}, concurrency=16, on_progress=progress
    )
    assert_type(report, sp.BulkReport)
    assert_type(report.ok, bool)
    assert_type(report.applied, list[sp.BulkResult])
    assert_type(report.applied_amount, Decimal)
    for result in report.results:
        assert_type(result.status, sp.BulkStatus)
        assert_type(result.transfer, sp.CreditTransfer | None)
        assert_type(result.error, sp.SMSPartnerError | None)
    await subs.bulk_remove_credit([("t1", 1), ("t1", 2)], on_progress=sp.ProgressBar())


def errors(exc: Exception) -> None:
    if isinstance(exc, sp.APIError):
        assert_type(exc.code, int | None)
        assert_type(exc.status_code, int | None)
        assert_type(exc.endpoint, str | None)
    if isinstance(exc, sp.RateLimitError):
        assert_type(exc.retry_after, float | None)
    assert issubclass(sp.ValidationError, ValueError)
    assert issubclass(sp.APITimeoutError, sp.APIConnectionError)


def retry_policy() -> None:
    def hook(details: sp.RetryDetails) -> float | None:
        assert_type(details.attempt, int)
        return None

    policy = sp.RetryPolicy(max_attempts=6, initial_delay=0.1, max_delay=2.0, on_retry=hook)
    assert_type(policy.backoff(2), float)
    sp.set_testing(True)


def models(
    sub: sp.Subaccount,
    page: sp.SubaccountPage,
    info: sp.AccountInfo,
    created: sp.CreatedSubaccount,
    transfer: sp.CreditTransfer,
    kind: sp.SubaccountType,
) -> None:
    assert_type(sub.id, int)
    assert_type(sub.email, str | None)
    assert_type(sub.type, str)
    assert_type(sub.token, str)
    assert_type(sub.api_key, str | None)
    assert_type(sub.created_at, datetime | None)
    assert_type(sub.credits, sp.Credits)
    assert_type(sub.credits.currency, str)
    assert_type(page.per_page, int)
    assert_type(page.page, int)
    assert_type(info.username, str)
    assert_type(info.firstname, str | None)
    assert_type(info.lastname, str | None)
    assert_type(info.balance, Decimal)
    assert_type(info.currency, str)
    assert_type(info.sms_credits, int | None)
    assert_type(info.sms_to_send, int | None)
    assert_type(created.email, str)
    assert_type(created.send_confirm_mail_to, str | None)
    assert_type(created.parent_email, str | None)
    assert_type(transfer.subaccount_balance, Decimal)
    assert_type(transfer.currency, str)
    assert_type(kind, Literal["simple", "advanced"])


def amounts(amount: sp.Amount) -> None:
    assert_type(amount, Decimal | int | str | float)
    assert_type(sp.parse_amount(amount), Decimal)
    assert_type(sp.parse_amount("2.5", field="price"), Decimal)


async def client_surface() -> None:
    client = sp.AsyncSMSPartner(
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        base_url="https://api.smspartner.fr/v1/",
        timeout=5.0,
        max_connections=10,
    )
    assert_type(client.base_url, str)
    assert_type(client.retry, sp.RetryPolicy)
    assert_type(client.is_closed, bool)
    assert_type(await client.aclose(), None)
    paginator = client.subaccounts.list()
    assert_type(paginator, sp.SubaccountPaginator)
    assert_type(paginator.pages(), AsyncIterator[sp.SubaccountPage])
    assert_type(sp.__version__, str)


def error_fields(
    api: sp.APIError,
    decode: sp.DecodeError,
    unknown: sp.OutcomeUnknownError,
    connection: sp.APIConnectionError,
    invalid: sp.ValidationError,
) -> None:
    assert_type(api.message, str)
    assert_type(api.details, tuple[sp.ErrorDetail, ...])
    for detail in api.details:
        assert_type(detail.element_id, str | None)
        assert_type(detail.message, str)
    assert_type(decode.errors, tuple[str, ...])
    assert_type(decode.body, str)
    assert_type(decode.status_code, int | None)
    assert_type(decode.endpoint, str | None)
    assert_type(unknown.endpoint, str | None)
    assert_type(connection.endpoint, str | None)
    assert_type(invalid.field, str | None)
    # The tree, checked statically: each class is usable where its parent is expected.
    api_errors: list[type[sp.APIError]] = [
        sp.AuthenticationError,
        sp.PermissionDeniedError,
        sp.NotFoundError,
        sp.InsufficientCreditError,
        sp.ConflictError,
        sp.InvalidRequestError,
        sp.RateLimitError,
        sp.ServerError,
    ]
    library_errors: list[type[sp.SMSPartnerError]] = [
        sp.ValidationError,
        sp.APIError,
        sp.APIConnectionError,
        sp.APITimeoutError,
        sp.DecodeError,
        sp.OutcomeUnknownError,
        *api_errors,
    ]
    value_error: type[ValueError] = sp.ValidationError
    del library_errors, value_error


def retry_fields(policy: sp.RetryPolicy, details: sp.RetryDetails) -> None:
    assert_type(policy.max_attempts, int)
    assert_type(policy.initial_delay, float)
    assert_type(policy.max_delay, float)
    assert_type(policy.jitter, bool)
    assert_type(policy.on_retry, Callable[[sp.RetryDetails], float | None] | None)
    assert_type(details.endpoint, str)
    assert_type(details.delay, float)
    assert_type(details.error, sp.SMSPartnerError)
    assert_type(details.retry_after, float | None)
    assert_type(sp.set_testing(False), None)


async def bulk_surface(subs: sp.AsyncSubaccounts, report: sp.BulkReport) -> None:
    def on_result(result: sp.BulkResult) -> None:
        assert_type(result.token, str)
        assert_type(result.amount, Decimal)
        assert_type(result.sent, bool)

    bar = sp.ProgressBar("top-ups", stream=sys.stderr, use_tqdm=False)
    assert_type(bar(1, 2), None)
    again = await subs.bulk_add_credit({"t1": 5}, on_result=on_result, on_progress=bar)
    assert_type(again, sp.BulkReport)
    assert_type(report.failed, list[sp.BulkResult])
    assert_type(report.unknown, list[sp.BulkResult])
    assert_type(report.unknown_amount, Decimal)
    assert_type(report.summary(limit=5), str)


def emulator_client(emulator: Emulator) -> None:
    client = emulator.client(timeout=1.0, retry=sp.RetryPolicy(max_attempts=1), max_connections=4)
    assert_type(client, sp.AsyncSMSPartner)
    emulator.client(timout=1.0)  # type: ignore[call-arg]  # a misspelt option is an error
