"""The transport under the client: which one is picked, and what its failures mean for a retry.

An aiohttp failure must reach the pipeline as the httpx error that says truthfully whether the
request may have left: only a failure to connect proves it never did.
"""

from __future__ import annotations

import sys

import aiohttp
import httpx
import pytest

from smspartner_async._transport import _remap, make_http_client, request_not_sent

REQUEST = httpx.Request("POST", "https://api.smspartner.test/v1/subaccount/credit/add")


@pytest.mark.anyio
async def test_without_the_aiohttp_extra_httpx_own_pool_is_used(
    monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)  # as if not installed
    http = make_http_client(timeout=httpx.Timeout(1.0), max_connections=5, transport=None)
    async with http:
        assert type(http._transport) is httpx.AsyncHTTPTransport


@pytest.mark.parametrize(
    ("failure", "mapped", "not_sent"),
    [
        (aiohttp.ConnectionTimeoutError("connect timed out"), httpx.ConnectTimeout, True),
        (TimeoutError("read timed out"), httpx.ReadTimeout, False),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, False),
        (ValueError("a transport bug"), httpx.ReadError, False),
    ],
)
def test_aiohttp_failures_map_to_what_they_mean(
    failure: BaseException, mapped: type[httpx.TransportError], not_sent: bool
) -> None:
    remapped = _remap(failure, REQUEST)
    assert type(remapped) is mapped
    assert remapped.request is REQUEST
    assert request_not_sent(remapped) is not_sent
    assert str(remapped)  # never an empty message


def test_an_httpx_error_wrapping_an_aiohttp_one_is_judged_by_its_cause() -> None:
    # httpx-aiohttp reports a server hanging up mid-answer as ConnectTimeout ("never sent").
    wrapped = httpx.ConnectTimeout("timed out", request=REQUEST)
    wrapped.__cause__ = aiohttp.ServerDisconnectedError()
    remapped = _remap(wrapped, REQUEST)
    assert type(remapped) is httpx.RemoteProtocolError
    assert not request_not_sent(remapped)


def test_an_httpx_error_of_its_own_is_kept() -> None:
    own = httpx.ConnectError("refused", request=REQUEST)
    assert _remap(own, REQUEST) is own
