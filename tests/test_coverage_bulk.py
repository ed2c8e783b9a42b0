"""Bulk moves when something other than the API fails: a bug in a transport mid-run.

The request may have left before the bug struck, so the item is ``unknown`` (never ``failed``,
never retried), the error is logged with its traceback, and the other items still run.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from _support import TRANSFER, Server, body_of, ok

import smspartner_async as sp

pytestmark = pytest.mark.anyio


async def test_an_unexpected_exception_makes_the_item_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if body_of(request)["tokenSubaccount"] == "tok2":
            raise RuntimeError("transport bug")
        return ok(**TRANSFER)

    server = Server(handler)
    async with server.client(retry=sp.RetryPolicy(max_attempts=3)) as client:
        report = await client.subaccounts.bulk_add_credit(
            {"tok1": "1", "tok2": "2", "tok3": "3"}, concurrency=1
        )

    assert [r.status for r in report.results] == ["applied", "unknown", "applied"]
    unknown = report.results[1]
    assert isinstance(unknown.error, sp.OutcomeUnknownError)
    assert isinstance(unknown.error.__cause__, RuntimeError)
    assert "RuntimeError" in str(unknown.error)
    assert server.count == 3  # the item that broke was not sent again
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "bulk item 1 (tok2) raised unexpectedly" in record.getMessage()
    assert record.exc_info is not None
