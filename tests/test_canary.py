"""The secret canary watches what it claims to: each channel, caught once.

These tests plant a second canary of their own (the autouse one must stay clean) and check that
a :class:`Watch` reports it in each place a key could leak.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
from _canary import Watch

import smspartner_async as sp
from smspartner_async.testing import Emulator

PLANTED = "PLANTED-5c0ffee-KEY"


@pytest.fixture
def watch() -> Iterator[Watch]:
    planted = Watch([PLANTED])
    with pytest.MonkeyPatch.context() as mp, planted.installed(mp):
        yield planted


def test_every_test_runs_with_the_canary_key(canary_api_key: str) -> None:
    assert os.environ["SMSPARTNER_API_KEY"] == canary_api_key
    assert Emulator().api_key == canary_api_key
    assert canary_api_key == Emulator.DEFAULT_API_KEY
    assert Emulator(api_key="another").api_key == "another"


def test_a_clean_test_leaks_nothing(watch: Watch) -> None:
    logging.getLogger("smspartner_async").debug("GET me?apiKey=***")
    sp.AsyncSMSPartner(api_key=PLANTED)
    assert watch.leaks() == []


@pytest.mark.parametrize(
    "logger", ["", "smspartner_async", "httpcore", "aiohttp", "uvicorn.error", "somebody.else"]
)
def test_log_records_at_any_level(watch: Watch, logger: str) -> None:
    logging.getLogger(logger).debug("sent %s", PLANTED)
    [leak] = watch.leaks()
    assert "log record" in leak


def test_a_traceback_in_a_log_record(watch: Watch) -> None:
    try:
        raise RuntimeError(PLANTED)
    except RuntimeError:
        logging.getLogger("smspartner_async").exception("failed")
    assert len(watch.leaks()) == 1


def test_error_text_and_its_chain(watch: Watch) -> None:
    error = sp.APIConnectionError("request failed")
    assert watch.leaks() == []
    error.__cause__ = OSError(f"connect to ?apiKey={PLANTED}")  # set after creation
    [leak] = watch.leaks()
    assert "OSError in the chain of APIConnectionError" in leak


def test_an_error_made_by_a_subclass(watch: Watch) -> None:
    sp.RateLimitError(f"slow down {PLANTED}", retry_after=1.0)
    assert "RateLimitError" in watch.leaks()[0]


def test_warnings_even_when_recorded(watch: Watch) -> None:
    with pytest.warns(UserWarning, match="careful"):
        warnings.warn(f"careful: {PLANTED}", UserWarning, stacklevel=1)
    assert "warning UserWarning" in watch.leaks()[0]


def test_warnings_still_become_errors(watch: Watch) -> None:
    with pytest.raises(UserWarning):
        warnings.warn("filterwarnings=error still applies", UserWarning, stacklevel=1)


def test_repr_of_public_objects(watch: Watch) -> None:
    sp.ErrorDetail(element_id=None, message=PLANTED)
    [leak] = watch.leaks()
    assert "repr of a ErrorDetail" in leak
    assert PLANTED not in leak  # the report shows where, not the key itself


def test_a_hidden_field_is_not_a_leak(watch: Watch) -> None:
    credits = sp.Credits(balance=Decimal("1"), currency="EUR")
    sp.Subaccount(1, "a@b.fr", "simple", "tok", PLANTED, datetime(2016, 3, 4), credits)
    assert watch.leaks() == []


def test_the_locals_of_a_traceback_in_the_chain(watch: Watch) -> None:
    # A frame outside the test suite (json's decoder) holding the key in a local.
    try:
        json.loads(f'{{"apiKey": "{PLANTED}", ')
    except ValueError as exc:
        error = sp.DecodeError("unreadable answer")
        error.__cause__ = exc
    [leak] = watch.leaks()
    assert "traceback locals of DecodeError" in leak


def test_the_test_suites_own_frames_may_hold_the_key(watch: Watch) -> None:
    key = PLANTED
    try:
        raise sp.APIConnectionError("request failed")
    except sp.APIConnectionError:
        pass
    assert key
    assert watch.leaks() == []
