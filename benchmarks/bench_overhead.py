"""Per-call overhead: the library's whole pipeline against raw httpx doing the same request.

Both sides send through an ``httpx.MockTransport`` that answers canned bytes, so no network
and no server is measured: only what each side does around the transport.

- ``list_page``: ours (request, limiter, checks, Decimal-exact JSON, 20 rows structured into
  frozen models) vs raw ``httpx.AsyncClient.get`` + ``json.loads``. Target: at most 1.25x.
- ``add_credit``: ours (amount validation, JSON body, ``CreditTransfer``) vs raw
  ``httpx.AsyncClient.post(json=...)`` + ``json.loads``. Target: at most 1.0x.

Each side's figure is the median over rounds of the mean time per call in a batch, the two
sides' batches interleaved in one event loop; ``ratio`` is the median of the rounds' ratios
(lower is better). Time is the process's CPU time: with a mock transport nothing waits, so it
equals wall time on an idle machine, and it drifts less on a busy one.

    python benchmarks/bench_overhead.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
from _common import emit, interleaved_async, median, median_ratio, parse_args

from smspartner_async import AsyncSMSPartner

BASE_URL = "https://api.smspartner.fr/v1/"
API_KEY = "bench-api-key-0123456789"
TOKEN = "a3f9c2e4b5d6e7f8091a2b3c4d5e6f70"

LIST_BODY = json.dumps(
    {
        "success": True,
        "code": 200,
        "total": 29,
        "nb_per_page": 20,
        "page": 1,
        "data": [
            {
                "id": n,
                "email": f"{10_000_000 + n}@smspartner.fr",
                "type": "simple",
                "token": f"{n:032x}",
                "apiKey": f"{n:040x}",
                "createdAt": "2016-03-04 11:23:14",
                "credits": {"balance": f"{n}.800", "currency": "EUR"},
            }
            for n in range(1, 21)
        ],
    }
).encode()
CREDIT_BODY = json.dumps(
    {"success": True, "code": 200, "credit": 2869.2, "subaccountCredit": 61.8, "currency": "EUR"}
).encode()
_HEADERS = {"Content-Type": "application/json"}


def _answer(request: httpx.Request) -> httpx.Response:
    body = LIST_BODY if request.method == "GET" else CREDIT_BODY
    return httpx.Response(200, content=body, headers=_HEADERS)


def _per_call(call: Callable[[], Awaitable[object]], calls: int) -> Callable[[], Awaitable[float]]:
    async def batch() -> float:
        started = time.process_time()
        for _ in range(calls):
            await call()
        return (time.process_time() - started) / calls

    return batch


async def run(*, calls: int, rounds: int) -> None:
    ours = AsyncSMSPartner(API_KEY, base_url=BASE_URL, transport=httpx.MockTransport(_answer))
    raw = httpx.AsyncClient(transport=httpx.MockTransport(_answer))
    list_url = BASE_URL + "subaccount/list"
    credit_url = BASE_URL + "subaccount/credit/add"
    async with ours, raw:

        async def raw_list() -> object:
            answer = await raw.get(list_url, params={"apiKey": API_KEY, "page": 1})
            return json.loads(answer.content)

        async def raw_credit() -> object:
            payload = {"apiKey": API_KEY, "credit": "25", "tokenSubaccount": TOKEN}
            answer = await raw.post(credit_url, json=payload)
            return json.loads(answer.content)

        async def ours_credit() -> object:
            return await ours.subaccounts.add_credit(TOKEN, Decimal("25"))

        figures = [
            ("overhead.list_page", ours.subaccounts.list_page, raw_list, 1.25),
            ("overhead.add_credit", ours_credit, raw_credit, 1.0),
        ]
        for name, mine, theirs, target in figures:
            await mine(), await theirs()  # warm up: first-call imports and caches
            timings = await interleaved_async(
                {"ours": _per_call(mine, calls), "baseline": _per_call(theirs, calls)}, rounds
            )
            ours_us = median(timings["ours"]) * 1e6
            base_us = median(timings["baseline"]) * 1e6
            ratio = median_ratio(timings["ours"], timings["baseline"])
            emit(
                name,
                ours=ours_us,
                baseline=base_us,
                ratio=ratio,
                unit="us/call (CPU)",
                baseline_is="raw httpx.AsyncClient + json.loads, same MockTransport",
                target=f"<= {target}",
                met=ratio <= target,
                n=calls,
                rounds=rounds,
                backend="asyncio",
            )


def main() -> None:
    args = parse_args(__doc__ or "")
    calls = 100 if args.quick else 200
    rounds = args.rounds or (3 if args.quick else 41)
    asyncio.run(run(calls=calls, rounds=rounds))


if __name__ == "__main__":
    main()
