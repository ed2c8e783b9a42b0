"""Property-based fuzzing: whatever the server answers and whatever a caller passes, the library
answers with a model or one of its own errors.

Every test is derandomized (the same examples on every run) and bounded, so the suite stays
fast and reproducible; a failure prints the smallest input hypothesis could shrink it to.
Async bodies run through ``anyio.run`` on each backend in turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import TypeVar

import anyio
import attrs
import httpx
import pytest
from _support import ALL_CALLS, BASE_URL, CANARY, CREATED, LIST_ALL, ME, TRANSFER, Call, row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smspartner_async as sp
from smspartner_async._money import PLACES, parse_amount

BACKENDS = ["asyncio", "trio"]
T = TypeVar("T")


def fuzz(examples: int) -> settings:
    """Bounded and derandomized: the same examples on every run, no example database."""
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture(autouse=True, scope="module")
def _no_backoff() -> Iterator[None]:
    # Module-scoped, so hypothesis does not see a function-scoped fixture re-used across examples.
    sp.set_testing(True)
    yield
    sp.set_testing(False)


def run(backend: str, fn: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(fn, backend=backend)


# -- JSON with the numbers a hostile or broken server could send ----------------------------------


@attrs.frozen
class Number:
    """A JSON number written exactly as given (``1e999999999``, ``-0``, 400 digits...)."""

    text: str


def encode(value: object) -> str:
    """JSON text for ``value``, with :class:`Number` leaves written verbatim."""
    if isinstance(value, Number):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}:{encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)  # NaN and Infinity too: Python's json reads them back


exotic_numbers = st.one_of(
    st.sampled_from(
        ["1e999999999", "-1e999999999", "1E400", "1e-999999999", "-0", "0.0", "1.000", "2e1"]
    ),
    st.sampled_from([10**400, -(10**400), 2**64, 10**4299]).map(lambda n: Number(str(n))),
    st.builds(
        lambda m, e: f"{m}e{e}",
        st.integers(min_value=-(10**6), max_value=10**6),
        st.integers(min_value=-(10**9), max_value=10**9),
    ),
).map(lambda n: n if isinstance(n, Number) else Number(n))

#: Strings a careless int() would trip over: Unicode digits that are not decimal, huge runs.
digit_strings = st.one_of(
    # Arabic-Indic and Devanagari digits int() reads; superscripts it refuses.
    st.text(alphabet="0123²³¹\u0663\u0969", min_size=1, max_size=4),
    st.sampled_from(["9" * 30, "9" * 4301, "²", "12³", "\u0661\u0660", " 10 ", "+1", "1_0", ""]),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    exotic_numbers,
    digit_strings,
    st.sampled_from(["2016-03-04 11:23:14", "2016-02-30 25:61:00", "0.800", "NaN", "-1", "1e5"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)


def mutated(template: object) -> st.SearchStrategy[object]:
    """``template`` with any key dropped, any part replaced, unknown keys added: near misses of
    a documented answer, which reach the converter's every branch."""
    if isinstance(template, dict):
        fields = {
            key: st.one_of(st.just(value), mutated(value), st.just(_DROP))
            for key, value in template.items()
        }
        changed = st.builds(
            lambda kept, extra: {**extra, **{k: v for k, v in kept.items() if v is not _DROP}},
            st.fixed_dictionaries(fields),
            st.dictionaries(st.text(max_size=8), scalars, max_size=1),
        )
        return st.one_of(changed, scalars)
    if isinstance(template, list):
        return st.one_of(st.lists(mutated(template[0]), max_size=3), scalars)
    if type(template) is int:  # counts and ids: where a number too large to handle hurts
        return st.one_of(st.just(template), exotic_numbers, digit_strings, scalars)
    return st.one_of(st.just(template), scalars)


_DROP = object()

SUCCESS: dict[str, Mapping[str, object]] = {
    "subaccount/create": CREATED,
    "subaccount/list": {"total": 2, "nb_per_page": 20, "page": 1, "data": [row(1)]},
    "subaccount/credit/add": TRANSFER,
    "subaccount/credit/remove": TRANSFER,
    "subaccount/delete": {},
    "me": ME,
    "list()": {"total": 2, "nb_per_page": 20, "page": 1, "data": [row(1), row(2)]},
}
#: A validation list (under ``error`` or ``errors``), or anything else there.
validation_lists = st.one_of(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({}, optional={"elementId": scalars, "message": scalars}),
            scalars,
        ),
        max_size=3,
    ),
    scalars,
)
#: Error answers: ``code`` and ``error``/``errors`` are read even when nothing else is right.
failures = st.fixed_dictionaries(
    {
        "success": st.sampled_from([False, False, None, 0, "false"]),
        "code": st.one_of(digit_strings, st.integers(), scalars),
    },
    optional={
        "message": st.one_of(st.just("Clé API incorrecte"), scalars),
        "error": validation_lists,
        "errors": validation_lists,
    },
)


def bodies(endpoint: str) -> st.SearchStrategy[bytes]:
    success = {"success": True, "code": 200, **SUCCESS[endpoint]}
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(encode),
        mutated(success).map(encode),
        failures.map(encode),
    ).map(lambda body: body if isinstance(body, bytes) else body.encode())


STATUSES = st.one_of(
    st.sampled_from([200, 200, 200, 201, 204, 299, 301, 304]),
    st.sampled_from([400, 401, 403, 404, 409, 418, 422, 429, 429]),
    st.sampled_from([500, 502, 503, 504, 599]),
    st.integers(min_value=100, max_value=599),
)
retry_after = st.one_of(
    st.none(),
    st.integers(min_value=-10, max_value=10**6).map(str),
    st.floats().map(str),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: format_datetime(d, usegmt=True)),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "Mon, 1 Jan 99999 00:00:00 GMT", "0"]),
)


@attrs.frozen
class Answer:
    status: int
    body: bytes
    retry_after: str | None

    def response(self) -> httpx.Response:
        headers = {} if self.retry_after is None else {"Retry-After": self.retry_after}
        return httpx.Response(self.status, content=self.body, headers=headers)


def answers(endpoint: str) -> st.SearchStrategy[list[Answer]]:
    one = st.builds(Answer, STATUSES, bodies(endpoint), retry_after)
    return st.lists(one, min_size=1, max_size=3)


#: What each call returns when it does not raise.
CALLS: dict[str, tuple[Call, Callable[[object], bool]]] = {
    "subaccount/create": (
        ALL_CALLS["subaccount/create"],
        lambda r: isinstance(r, sp.CreatedSubaccount),
    ),
    "subaccount/list": (ALL_CALLS["subaccount/list"], lambda r: isinstance(r, sp.SubaccountPage)),
    "subaccount/credit/add": (
        ALL_CALLS["subaccount/credit/add"],
        lambda r: isinstance(r, sp.CreditTransfer),
    ),
    "subaccount/credit/remove": (
        ALL_CALLS["subaccount/credit/remove"],
        lambda r: isinstance(r, sp.CreditTransfer),
    ),
    "subaccount/delete": (ALL_CALLS["subaccount/delete"], lambda r: r is None),
    "me": (ALL_CALLS["me"], lambda r: isinstance(r, sp.AccountInfo)),
    "list()": (
        LIST_ALL,
        lambda r: isinstance(r, list) and all(isinstance(s, sp.Subaccount) for s in r),
    ),
}
ANSWERS = {endpoint: answers(endpoint) for endpoint in CALLS}
EMPTY_PAGE = {"success": True, "code": 200, "total": 0, "nb_per_page": 20, "page": 1, "data": []}


async def call_with_answers(call: Call, scripted: list[Answer]) -> tuple[object, int]:
    """Run ``call`` against a server giving ``scripted`` answers in turn (then empty pages)."""
    served = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal served
        served += 1
        assert served <= 20, "the client kept calling"
        if served > len(scripted):
            return httpx.Response(200, json=EMPTY_PAGE)
        return scripted[served - 1].response()

    client = sp.AsyncSMSPartner(
        api_key=CANARY,
        base_url=BASE_URL,
        transport=httpx.MockTransport(handler),
        retry=sp.RetryPolicy(max_attempts=2),
    )
    async with client:
        try:
            return await call(client), served
        except sp.SMSPartnerError as exc:
            return exc, served


@pytest.mark.parametrize("backend", BACKENDS)
@fuzz(150)
@given(data=st.data(), endpoint=st.sampled_from(sorted(CALLS)))
def test_any_answer_gives_a_model_or_a_library_error(
    backend: str, data: st.DataObject, endpoint: str
) -> None:
    scripted = data.draw(ANSWERS[endpoint], label="answers")
    call, returns = CALLS[endpoint]

    async def main() -> tuple[object, int]:
        return await call_with_answers(call, scripted)

    outcome, served = run(backend, main)
    if isinstance(outcome, sp.SMSPartnerError):
        assert CANARY not in f"{outcome}{outcome!r}{outcome.__cause__!r}"
    else:
        assert returns(outcome), outcome
    if endpoint != "list()":
        # max_attempts=2: never more requests than that, per path (delete has two).
        assert served <= (4 if endpoint == "subaccount/delete" else 2)


@pytest.mark.parametrize("backend", BACKENDS)
@fuzz(100)
@given(
    endpoint=st.sampled_from(sorted(CALLS)),
    status=st.sampled_from([200, 400, 401, 403, 404, 409, 422]),
    body=failures,
)
def test_any_error_answer_gives_an_api_error(
    backend: str, endpoint: str, status: int, body: dict[str, object]
) -> None:
    body = {**body, "success": False}
    # Twice: after a routing miss, delete sends its other documented path once.
    scripted = [Answer(status, encode(body).encode(), None)] * 2

    async def main() -> tuple[object, int]:
        return await call_with_answers(CALLS[endpoint][0], scripted)

    outcome, served = run(backend, main)
    assert isinstance(outcome, sp.APIError), outcome
    assert outcome.status_code == status
    assert outcome.code is None or isinstance(outcome.code, int)
    assert all(isinstance(d, sp.ErrorDetail) for d in outcome.details)
    if isinstance(outcome, sp.RouteNotFoundError):
        assert status == 404  # the only routing-miss status among those drawn
    other_path = endpoint == "subaccount/delete" and isinstance(outcome, sp.RouteNotFoundError)
    assert served == (2 if other_path else 1)  # a refusal is final


# -- amounts ---------------------------------------------------------------------------------------

amount_inputs = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=3, min_value=Decimal("-1e16"), max_value=Decimal("1e16")),
    st.sampled_from(
        [Decimal("sNaN"), Decimal("-sNaN"), Decimal("NaN123"), Decimal("-0"), Decimal("1E+2")]
    ),
    st.builds(
        lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.integers(min_value=-40, max_value=20),
    ),
    # A valid amount plus a far-off last digit: what rounding to 28 digits would swallow.
    st.builds(
        lambda whole, zeros: f"{whole}.{'0' * zeros}1",
        st.integers(min_value=0, max_value=10**14),
        st.integers(min_value=0, max_value=40),
    ).flatmap(lambda text: st.sampled_from([text, Decimal(text)])),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.from_regex(r"\s?[-+]?\d{0,20}(\.\d{0,35})?([eE][-+]?\d{1,3})?\s?", fullmatch=True),
    st.booleans(),
    st.none(),
    st.complex_numbers(max_magnitude=10),
    st.lists(st.integers(), max_size=2),
)


def _expected_value(value: object) -> Decimal | None:
    """The exact value ``value`` stands for, or None when no amount may be read from it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        # Text: ASCII digits and at most one point (a sign, to be refused as not positive),
        # spaces or tabs around; no exponent, underscore or other scripts' digits.
        plain = re.fullmatch(r"[ \t]*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))[ \t]*", value)
        return Decimal(plain[1]) if plain else None
    return None


def decimal_places(number: Decimal) -> int:
    """Places after the point once trailing zeros are dropped, computed without any rounding."""
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    return max(0, -(exponent + len(text) - len(text.rstrip("0"))))


def parsed(value: object) -> Decimal | sp.ValidationError:
    try:
        return parse_amount(value)
    except sp.ValidationError as exc:
        return exc


@fuzz(300)
@given(value=amount_inputs)
def test_any_amount_is_exact_or_refused(value: object) -> None:
    amount = parsed(value)
    if isinstance(amount, sp.ValidationError):
        assert amount.field == "amount"
        expected = _expected_value(value)
        if expected is not None and expected.is_finite() and expected > 0:
            # Refused although a positive number: only for too many places or too large.
            assert decimal_places(expected) > PLACES or expected.adjusted() > 14, (value, amount)
        return
    assert type(amount) is Decimal
    expected = _expected_value(value)
    assert expected is not None, value
    assert amount.is_finite()
    assert amount > 0
    assert amount == expected  # exact: nothing rounded
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    assert -PLACES <= exponent <= 0, amount
    assert "E" not in str(amount)


# -- the paginator -------------------------------------------------------------------------------


@attrs.frozen
class ScriptedPage:
    total: int
    per_page: int
    ids: list[int]


pages_scripts = st.lists(
    st.builds(
        ScriptedPage,
        total=st.one_of(
            st.integers(min_value=-5, max_value=200),
            st.sampled_from([0, 20, 21, 40, 10**9, 10**400]),
        ),
        per_page=st.sampled_from([20, 20, 20, 0, 5, 25, -1]),
        ids=st.lists(st.integers(min_value=0, max_value=60), max_size=25),
    ),
    max_size=8,
)


def dedup(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


async def walk(script: list[ScriptedPage], prefetch: int) -> list[int]:
    requested: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        requested.append(number)
        assert len(requested) <= len(script) + 10, "the walk does not end"
        if number > len(script):
            page = ScriptedPage(total=script[-1].total if script else 0, per_page=20, ids=[])
        else:
            page = script[number - 1]
        return httpx.Response(
            200,
            json={
                "success": True,
                "code": 200,
                "total": page.total,
                "nb_per_page": page.per_page,
                "page": number,
                "data": [row(i) for i in page.ids],
            },
        )

    client = sp.AsyncSMSPartner(
        api_key=CANARY, base_url=BASE_URL, transport=httpx.MockTransport(handler)
    )
    async with client:
        return [sub.id async for sub in client.subaccounts.list(prefetch=prefetch)]


@pytest.mark.parametrize("backend", BACKENDS)
@fuzz(60)
@given(script=pages_scripts)
def test_any_page_sequence_walks_once_in_order(backend: str, script: list[ScriptedPage]) -> None:
    async def main() -> list[list[int]]:
        return [await walk(script, prefetch) for prefetch in range(1, 9)]

    results = run(backend, main)
    ids = results[0]
    assert len(ids) == len(set(ids)), "an id came twice"
    # What was yielded is every new row of the first m pages, in page order, for some m.
    prefixes = [dedup([i for page in script[:m] for i in page.ids]) for m in range(len(script) + 1)]
    assert ids in prefixes, (ids, prefixes)
    for prefetch, other in enumerate(results[1:], start=2):
        assert other == ids, f"prefetch={prefetch} changed the rows"
