"""Shared fixtures: every async test runs on asyncio and on trio, and under the secret canary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _canary import Watch
from _support import CANARY, SUB_CANARY

import smspartner_async
from smspartner_async._redact import install_log_redaction
from smspartner_async.testing import Emulator

PROXY_VARIABLES = [
    name
    for scheme in ("http", "https", "all", "no")
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def no_backoff() -> Iterator[None]:
    """Retries happen as in production, but every wait is zero."""
    smspartner_async.set_testing(True)
    yield
    smspartner_async.set_testing(False)


@pytest.fixture
def canary_api_key() -> str:
    """The account key of every test: it must never show anywhere but on the wire."""
    return CANARY


@pytest.fixture(autouse=True)
def secret_canary(monkeypatch: pytest.MonkeyPatch, canary_api_key: str) -> Iterator[None]:
    """Give the test the canary key, and fail it if the key shows in a log record, an error's
    text, a warning or the ``repr`` of a library object made during it (see ``_canary.py``)."""
    monkeypatch.setenv("SMSPARTNER_API_KEY", canary_api_key)
    # The machine's settings must not steer the tests: no base URL, no proxy from outside.
    for name in ("SMSPARTNER_BASE_URL", *PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    # Emulator() binds its default key at definition time: patch the default itself, and the
    # constant that code and tests read it from.
    init_defaults = Emulator.__dict__["__init__"].__kwdefaults__
    monkeypatch.setitem(init_defaults, "api_key", canary_api_key)
    monkeypatch.setattr(Emulator, "DEFAULT_API_KEY", canary_api_key)
    # Every AsyncSMSPartner attaches this filter to the httpx logger, once per process; tests
    # that speak raw httpx to the emulator would otherwise pass or fail by test order.
    install_log_redaction()
    watch = Watch([canary_api_key, SUB_CANARY])
    with watch.installed(monkeypatch):
        yield
    leaks = watch.leaks()
    if leaks:
        pytest.fail(
            "the canary API key showed up:\n" + "\n".join(f"  - {leak}" for leak in leaks),
            pytrace=False,
        )
