"""Client construction: a base URL that cannot be parsed is refused before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from _support import CANARY

import smspartner_async as sp


@pytest.mark.parametrize("base_url", ["https://[::1/v1/", "https://\x00api/v1/", 443])
def test_an_unparsable_base_url_is_a_validation_error(base_url: Any) -> None:
    with pytest.raises(sp.ValidationError, match="base_url is not a URL") as info:
        sp.AsyncSMSPartner(api_key=CANARY, base_url=base_url)
    assert info.value.field == "base_url"
