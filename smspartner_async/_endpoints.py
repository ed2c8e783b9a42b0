"""The API's endpoints: method, path, and whether a call may create or move money."""

from __future__ import annotations

import attrs

__all__ = ["ACCOUNT", "CREATE", "CREDIT_ADD", "CREDIT_REMOVE", "DELETE", "LIST", "Endpoint"]


@attrs.frozen
class Endpoint:
    """One API operation. ``writes``: it creates or moves money, so it is never retried once
    it may have reached the server."""

    method: str
    path: str
    writes: bool


CREATE = Endpoint("POST", "subaccount/create", writes=True)
LIST = Endpoint("GET", "subaccount/list", writes=False)
CREDIT_ADD = Endpoint("POST", "subaccount/credit/add", writes=True)
CREDIT_REMOVE = Endpoint("POST", "subaccount/credit/remove", writes=True)
DELETE = Endpoint("DELETE", "subaccount/delete", writes=True)
ACCOUNT = Endpoint("GET", "me", writes=False)
