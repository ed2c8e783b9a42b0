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


async def test_an_exception_from_the_transport_makes_the_item_unknown(
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
    # The pipeline turns it into a library error: the bulk run has nothing unexpected to log.
    assert type(unknown.error.__cause__) is sp.SMSPartnerError
    assert isinstance(unknown.error.__cause__.__cause__, RuntimeError)
    assert "RuntimeError" in str(unknown.error)
    assert server.count == 3  # the item that broke was not sent again
    assert not [r for r in caplog.records if r.levelno == logging.ERROR]
