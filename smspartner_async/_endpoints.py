"""The API's endpoints: method, path, and whether a call may create or move money."""

from __future__ import annotations

import attrs

__all__ = [
    "ACCOUNT",
    "CREATE",
    "CREDIT_ADD",
    "CREDIT_REMOVE",
    "DELETE",
    "LIST",
    "REMOVE",
    "Endpoint",
]


@attrs.frozen
class Endpoint:
    """One API operation. ``writes``: it creates or moves money, so it is never retried once
    it may have reached the server. ``query_too``: a body-carrying request whose fields (key
    included) are also sent as query parameters, for a server that reads them there."""

    method: str
    path: str
    writes: bool
    query_too: bool = False


CREATE = Endpoint("POST", "subaccount/create", writes=True)
LIST = Endpoint("GET", "subaccount/list", writes=False)
CREDIT_ADD = Endpoint("POST", "subaccount/credit/add", writes=True)
CREDIT_REMOVE = Endpoint("POST", "subaccount/credit/remove", writes=True)
# The docs disagree on delete's path (``subaccount/delete`` in the current heading,
# ``subaccount/remove`` in every example and the older version) and a third-party client sends
# its fields as query parameters: both paths exist here, and both send the fields both ways.
DELETE = Endpoint("DELETE", "subaccount/delete", writes=True, query_too=True)
REMOVE = Endpoint("DELETE", "subaccount/remove", writes=True, query_too=True)
ACCOUNT = Endpoint("GET", "me", writes=False)
