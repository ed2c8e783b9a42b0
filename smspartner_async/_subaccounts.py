"""``AsyncSubaccounts``: the sub-account operations, reached as ``client.subaccounts``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, overload

from ._bulk import BulkReport, BulkResult, JournalArg, ProgressCallback, ResultCallback, run_bulk
from ._converter import JSONNumber, decode_created, decode_page, decode_transfer
from ._endpoints import CREATE, CREDIT_ADD, CREDIT_REMOVE, DELETE, LIST, REMOVE, Endpoint
from ._errors import NotFoundError, RouteNotFoundError
from ._journal import BulkJournal, Snapshot
from ._models import CreatedSubaccount, CreditTransfer, SubaccountPage, SubaccountType
from ._money import Amount, parse_amount, to_wire
from ._pagination import MAX_PAGE, SubaccountPaginator
from ._validation import (
    check_bool,
    check_email,
    check_positive_int,
    check_text,
    check_token,
    check_type,
)

if TYPE_CHECKING:
    from ._client import AsyncSMSPartner, Request

__all__ = ["AsyncSubaccounts"]


class AsyncSubaccounts:
    """Create, list, credit and delete sub-accounts. Reached as ``client.subaccounts``.

    Every argument is checked before anything is sent: a bad one raises
    [`ValidationError`][] naming it. Amounts are [`Amount`][]s: ``Decimal``, ``int`` or ``str``
    euros.

    ```python
    subs = client.subaccounts
    created = await subs.create("simple", credit_to_attribute="10")
    await subs.add_credit(created.token, "2.5")
    await subs.delete(created.token)
    ```
    """

    def __init__(self, client: AsyncSMSPartner, request: Request) -> None:
        self._client = client
        self._request = request
        # The delete path this server answered on last (see delete()).
        self._delete_endpoint = DELETE

    def __repr__(self) -> str:
        return f"AsyncSubaccounts({self._client!r})"

    async def create(
        self,
        type: SubaccountType,
        *,
        email: str | None = None,
        is_buyer: bool | None = None,
        credit_to_attribute: Amount | None = None,
        title: str | None = None,
        firstname: str | None = None,
        lastname: str | None = None,
    ) -> CreatedSubaccount:
        """Create a sub-account; ``credit_to_attribute`` euros move to it from the main account.

        ``"simple"`` accounts get a generated e-mail when none is given; ``"advanced"`` ones
        need ``email`` and ``is_buyer``. ``None`` fields are not sent. Until SMS Partner has
        activated sub-accounts on the account, this raises [`PermissionDeniedError`][]; an
        e-mail already in use raises [`ConflictError`][]. Never retried once it may have
        reached the server (see [`add_credit`][]).

        ```pycon
        >>> created = await client.subaccounts.create(
        ...     "advanced", email="shop@example.com", is_buyer=False,
        ...     credit_to_attribute=Decimal("10"))
        >>> created.token
        'f3c1...'
        ```
        """
        kind = check_type(type)
        parameters: dict[str, object] = {}
        if email is not None:
            parameters["email"] = check_email(email)
        elif kind == "advanced":
            check_email(email)
        # isBuyer and creditToAttribute go out as JSON numbers, as in every public sample
        # (``credit`` of the credit moves, a string in the samples, stays a string).
        if is_buyer is not None:
            parameters["isBuyer"] = int(check_bool(is_buyer, field="is_buyer"))
        elif kind == "advanced":
            check_bool(is_buyer, field="is_buyer")
        if credit_to_attribute is not None:
            amount = parse_amount(credit_to_attribute, field="credit_to_attribute")
            parameters["creditToAttribute"] = JSONNumber(to_wire(amount))
        for field, value in (("title", title), ("firstname", firstname), ("lastname", lastname)):
            if value is not None:
                parameters[field] = check_text(value, field=field)
        fields = {"type": kind, "parameters": parameters}
        return await self._request(CREATE, fields, decode_created)

    async def list_page(self, page: int = 1) -> SubaccountPage:
        """One page of sub-accounts (20 rows a page), with the ``total`` across all pages.

        ``page`` is an ``int`` from 1 to 1,000,000 (20 million rows: past any real account).

        ```python
        page = await client.subaccounts.list_page(2)
        print(page.total, [sub.email for sub in page.items])
        ```
        """
        number = check_positive_int(page, field="page", most=MAX_PAGE)
        return await self._request(LIST, {"page": number}, decode_page)

    def list(self, *, prefetch: int = 4) -> SubaccountPaginator:
        """Every sub-account, in page order, with up to ``prefetch`` pages requested ahead.

        ```python
        async for sub in client.subaccounts.list(prefetch=8):
            print(sub.email, sub.credits.balance)
        ```

        ``prefetch=1`` walks strictly one page after another. See [`SubaccountPaginator`][].
        """
        return SubaccountPaginator(
            self.list_page, prefetch=check_positive_int(prefetch, field="prefetch")
        )

    async def add_credit(self, token: str, amount: Amount) -> CreditTransfer:
        """Move ``amount`` euros from the main account to the sub-account ``token``.

        Never retried once it may have reached the server: if the answer is lost, this raises
        [`OutcomeUnknownError`][] rather than risk paying twice. An unknown ``token`` raises
        [`NotFoundError`][], a short balance [`InsufficientCreditError`][].

        ```pycon
        >>> t = await client.subaccounts.add_credit(token, Decimal("25"))
        >>> t.subaccount_balance
        Decimal('61.8')
        ```
        """
        return await self._move(CREDIT_ADD, token, amount)

    async def remove_credit(self, token: str, amount: Amount) -> CreditTransfer:
        """Move ``amount`` euros from the sub-account ``token`` back to the main account.

        Same rules as [`add_credit`][].

        ```python
        await client.subaccounts.remove_credit(token, "2.5")
        ```
        """
        return await self._move(CREDIT_REMOVE, token, amount)

    async def delete(self, token: str) -> None:
        """Delete the sub-account ``token``. Raises [`NotFoundError`][] if there is none.

        The docs name two paths for this call, ``subaccount/delete`` and
        ``subaccount/remove``: when the server has no route for the first one tried (a
        [`RouteNotFoundError`][]), the other is tried once, and the one that answers is used
        first from then on. Both carry the key and token in the JSON body and in the query
        string. [`NotFoundError`][] comes only from the API's own answer, so it always means
        the sub-account is gone.

        ```python
        await client.subaccounts.delete(token)
        ```
        """
        fields = {"token": check_token(token)}
        first = self._delete_endpoint
        try:
            await self._delete_through(first, fields)
        except RouteNotFoundError:
            # Safe to send again: a routing miss (HTTP 404/405 that is not the API's JSON)
            # proves no API handler ran, so nothing was deleted and nothing can happen twice.
            await self._delete_through(REMOVE if first is DELETE else DELETE, fields)

    async def _delete_through(self, endpoint: Endpoint, fields: Mapping[str, object]) -> None:
        try:
            await self._request(endpoint, fields, _ignore_body)
        except NotFoundError:
            self._delete_endpoint = endpoint  # the API's own answer: this route exists
            raise
        self._delete_endpoint = endpoint

    @overload
    async def bulk_add_credit(
        self,
        amounts: Mapping[str, Amount],
        *,
        concurrency: int = ...,
        on_progress: ProgressCallback | None = ...,
        on_result: ResultCallback | None = ...,
        journal: JournalArg | None = ...,
    ) -> BulkReport: ...
    @overload
    async def bulk_add_credit(
        self,
        amounts: Iterable[tuple[str, Amount]],
        *,
        concurrency: int = ...,
        on_progress: ProgressCallback | None = ...,
        on_result: ResultCallback | None = ...,
        journal: JournalArg | None = ...,
    ) -> BulkReport: ...
    async def bulk_add_credit(
        self,
        amounts: Mapping[str, Amount] | Iterable[tuple[str, Amount]],
        *,
        concurrency: int = 16,
        on_progress: Callable[[int, int], object] | None = None,
        on_result: Callable[[BulkResult], object] | None = None,
        journal: BulkJournal | str | os.PathLike[str] | None = None,
    ) -> BulkReport:
        """Top up many sub-accounts at once; every item ends applied, failed or unknown.

        ``amounts`` maps token -> amount, or is an iterable of ``(token, amount)`` pairs (a
        token may repeat: each pair is one transfer). Every amount is checked before the first
        request. At most ``concurrency`` transfers are in flight. ``on_progress(done, total)``
        is called after each item and ``on_result(result)`` with each outcome as it lands
        (also for in-flight items when the call is cancelled, as ``unknown``).

        A refused API key stops the run: the items not yet sent are reported failed, with
        ``sent=False``. Nothing is ever sent twice. Returns a [`BulkReport`][]; see the
        [bulk guide](../guides/concurrency.md#bulk-top-ups).

        ``journal`` (a [`BulkJournal`][] or the path of its file) makes the run survive the
        death of its process: a new journal first records the balances before the run, then
        each item's intent before its request may leave and its outcome once known. Calling
        again with the same items and journal resumes: items applied are reported from the
        journal (``from_journal=True``) and not sent, items surely not applied are sent, and
        items that may have been applied stay ``unknown`` until settled. See the
        [monthly top-ups guide](../guides/monthly-top-ups.md).

        ```pycon
        >>> report = await client.subaccounts.bulk_add_credit(
        ...     {"tok1": Decimal("5"), "tok2": "7.5"}, concurrency=32,
        ...     on_progress=ProgressBar("top-ups"))
        >>> report.ok
        True
        ```
        """
        return await run_bulk(
            partial(self._send_move, CREDIT_ADD),
            amounts,
            concurrency=concurrency,
            on_progress=on_progress,
            on_result=on_result,
            journal=journal,
            direction="add",
            snapshot=partial(self._snapshot, concurrency),
        )

    @overload
    async def bulk_remove_credit(
        self,
        amounts: Mapping[str, Amount],
        *,
        concurrency: int = ...,
        on_progress: ProgressCallback | None = ...,
        on_result: ResultCallback | None = ...,
        journal: JournalArg | None = ...,
    ) -> BulkReport: ...
    @overload
    async def bulk_remove_credit(
        self,
        amounts: Iterable[tuple[str, Amount]],
        *,
        concurrency: int = ...,
        on_progress: ProgressCallback | None = ...,
        on_result: ResultCallback | None = ...,
        journal: JournalArg | None = ...,
    ) -> BulkReport: ...
    async def bulk_remove_credit(
        self,
        amounts: Mapping[str, Amount] | Iterable[tuple[str, Amount]],
        *,
        concurrency: int = 16,
        on_progress: Callable[[int, int], object] | None = None,
        on_result: Callable[[BulkResult], object] | None = None,
        journal: BulkJournal | str | os.PathLike[str] | None = None,
    ) -> BulkReport:
        """Take credit back from many sub-accounts at once; same rules as [`bulk_add_credit`][].

        ```python
        report = await client.subaccounts.bulk_remove_credit(
            {token: "5" for token in tokens}
        )
        ```
        """
        return await run_bulk(
            partial(self._send_move, CREDIT_REMOVE),
            amounts,
            concurrency=concurrency,
            on_progress=on_progress,
            on_result=on_result,
            journal=journal,
            direction="remove",
            snapshot=partial(self._snapshot, concurrency),
        )

    async def _snapshot(self, prefetch: int) -> Snapshot:
        """The balances before a journaled run: the main account's, then every sub-account's."""
        main = (await self._client.account()).balance
        subs = {sub.token: sub.credits.balance async for sub in self.list(prefetch=prefetch)}
        return main, subs

    async def _move(self, endpoint: Endpoint, token: str, amount: Amount) -> CreditTransfer:
        return await self._send_move(endpoint, check_token(token), parse_amount(amount))

    async def _send_move(self, endpoint: Endpoint, token: str, amount: Decimal) -> CreditTransfer:
        """A credit move whose token and amount are already checked (bulk checks them all
        before the first request)."""
        fields = {"credit": to_wire(amount), "tokenSubaccount": token}
        return await self._request(endpoint, fields, decode_transfer)


def _ignore_body(data: object, *, endpoint: str, status_code: int) -> None:
    """A delete answers ``success`` and nothing else worth keeping."""
