"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import smspartner_async


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def no_backoff() -> Iterator[None]:
    """Retries happen as in production, but every wait is zero."""
    smspartner_async.set_testing(True)
    yield
    smspartner_async.set_testing(False)
