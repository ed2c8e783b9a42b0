"""Redaction of log lines other libraries emit: the httpx logger's filter, however a line is built.

The client attaches the filter when constructed; each test logs on the ``httpx`` logger as a
caller or a transport might and reads the line as a handler would format it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import smspartner_async as sp
from smspartner_async._redact import REDACTED, redact


@pytest.fixture
def httpx_lines(caplog: pytest.LogCaptureFixture, canary_api_key: str) -> Iterator[list[str]]:
    sp.AsyncSMSPartner(api_key=canary_api_key)  # installs the filter on the httpx logger
    caplog.set_level(logging.INFO, logger="httpx")
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    logging.getLogger("httpx").addHandler(handler)
    yield lines
    logging.getLogger("httpx").removeHandler(handler)


def test_a_key_given_as_the_argument_of_an_apikey_placeholder(
    httpx_lines: list[str], canary_api_key: str
) -> None:
    logging.getLogger("httpx").info("GET me?apiKey=%s&page=%d", canary_api_key, 2)
    assert httpx_lines == [f"GET me?apiKey={REDACTED}&page=2"]


def test_a_key_in_a_url_argument(httpx_lines: list[str], canary_api_key: str) -> None:
    url = f"https://api.smspartner.fr/v1/me?apiKey={canary_api_key}"
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "GET", url, "HTTP/1.1 200 OK")
    assert httpx_lines == [
        f'HTTP Request: GET https://api.smspartner.fr/v1/me?apiKey={REDACTED} "HTTP/1.1 200 OK"'
    ]


def test_a_key_in_a_mapping_argument(httpx_lines: list[str], canary_api_key: str) -> None:
    logging.getLogger("httpx").info(
        "page %(page)s apiKey=%(key)s", {"page": 3, "key": canary_api_key}
    )
    assert httpx_lines == [f"page 3 apiKey={REDACTED}"]


def test_a_malformed_line_still_hides_the_key(httpx_lines: list[str], canary_api_key: str) -> None:
    # One argument for two placeholders: the line cannot be formatted, the key still not shown.
    logging.getLogger("httpx").info("apiKey=%s %s", canary_api_key)  # noqa: PLE1206 - on purpose
    assert len(httpx_lines) == 1
    assert canary_api_key not in httpx_lines[0]


def test_a_line_without_a_key_is_left_alone(httpx_lines: list[str]) -> None:
    logging.getLogger("httpx").info("pool %s: %d connections", "main", 4)
    assert httpx_lines == ["pool main: 4 connections"]


def test_an_empty_secret_masks_nothing() -> None:
    assert redact("nothing to hide", "") == "nothing to hide"
    assert redact("key k1 and apiKey=k2", "k1") == f"key {REDACTED} and apiKey={REDACTED}"
