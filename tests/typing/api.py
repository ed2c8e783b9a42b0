"""The public API as a user's code sees it: type-checked (mypy --strict, pyright), never run.

Each ``assert_type`` pins what a user's ``reveal_type`` would show; a change to a public
signature that loosens or breaks a type fails the typecheck session.
"""

from __future__ import annotations

from decimal import Decimal
from typing import assert_type

import httpx

import smspartner_async as sp


async def client_lifecycle() -> None:
    async with sp.AsyncSMSPartner(api_key="k", timeout=httpx.Timeout(5.0)) as client:
        assert_type(client, sp.AsyncSMSPartner)
        assert_type(client.subaccounts, sp.AsyncSubaccounts)
        assert_type(await client.account(), sp.AccountInfo)
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
