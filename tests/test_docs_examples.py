"""Every Python block of the README and the guides runs, as written, against the emulator.

A page is read top to bottom like a notebook: its blocks run in order in one namespace, on the
test's event loop, with top-level ``await`` as in Jupyter. Before the first block the namespace
holds what a reader of the page already has (``client``, ``token``, ``amounts``, ...), the way
doctest's globals do, and the environment points a client made with no arguments at a served
emulator (``SMSPARTNER_API_KEY``, ``SMSPARTNER_BASE_URL``). ``pycon`` blocks are checked like
doctests, expected output and exceptions included. A ``test_*`` function a block defines is
called at once, with a fresh emulator for a ``smspartner_emulator`` parameter.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import importlib.util
import inspect
import io
import logging
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import anyio
import anyio.to_thread
import pytest

import smspartner_async as sp
from smspartner_async.testing import Emulator, Fault, served

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(python|pycon)[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
CHECK = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PAGES = [
    page
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    if FENCE.search(page.read_text(encoding="utf-8"))
]


def blocks(page: Path) -> list[tuple[str, str, int]]:
    """The ``python`` and ``pycon`` blocks of ``page``: (language, source, first line)."""
    text = page.read_text(encoding="utf-8")
    return [
        (m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2) for m in FENCE.finditer(text)
    ]


def test_the_pages_hold_the_blocks_they_should() -> None:
    # A fence this module failed to see would silently go untested.
    assert {"README.md", "quickstart.md", "concurrency.md", "frameworks.md"} <= {
        p.name for p in PAGES
    }
    assert sum(len(blocks(page)) for page in PAGES) >= 45


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{name}", ROOT / "examples" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _noop(_: object) -> None:
    """``save`` and ``process`` in the samples: whatever the reader does with a row."""


def page_names(page: Path, emulator: Emulator, tmp_path: Path) -> dict[str, Any]:
    """What a reader of ``page`` already has when its first block starts."""
    tokens = emulator.seed_subaccounts(3, balance="20")
    names: dict[str, Any] = {
        "__name__": f"docs_{page.stem}",
        "sp": sp,
        "anyio": anyio,
        "Decimal": Decimal,
        "emulator": emulator,
        "client": sp.AsyncSMSPartner(),
        "tokens": tokens,
        "token": tokens[0],
        "token_a": tokens[1],
        "token_b": tokens[2],
        "old_token": uuid.uuid4().hex,  # a sub-account deleted long ago
        "amount": Decimal("25"),
        "amounts": dict.fromkeys(tokens, Decimal("5")),
        "items": dict.fromkeys(tokens, Decimal("5")),
        "log": logging.getLogger("docs"),
        "save": _noop,
        "process": _noop,
    }
    if page.name == "frameworks.md":
        fastapi_app, aiohttp_app = load_example("fastapi_app"), load_example("aiohttp_app")
        names["json"] = fastapi_app.json
        names["StreamingResponse"] = fastapi_app.StreamingResponse
        names["subaccount_json"] = fastapi_app.subaccount_json
        names["smspartner_errors"] = aiohttp_app.smspartner_errors
    if page.name == "testing.md":
        # The guide's `from myapp.billing import top_up_everyone  # your code`.
        (tmp_path / "myapp").mkdir()
        (tmp_path / "myapp" / "__init__.py").write_text("")
        (tmp_path / "myapp" / "billing.py").write_text(
            "async def top_up_everyone(client, amount):\n"
            "    tokens = [sub.token async for sub in client.subaccounts.list()]\n"
            "    await client.subaccounts.bulk_add_credit(dict.fromkeys(tokens, amount))\n"
        )
    if page.name == "monthly-top-ups.md":
        # Two like transfers to one account lose their answers and one of them lands: the
        # balances cannot say which, so settling leaves both to a person.
        names["items"] = [(tokens[0], "5"), (tokens[0], "5")]
        emulator.inject(Fault.apply_then_drop(), endpoint="subaccount/credit/add")
        emulator.inject(Fault.status(503), endpoint="subaccount/credit/add")
    return names


@contextlib.contextmanager
def global_state_kept() -> Iterator[None]:
    """Undo what the logging and tracing guides configure for the whole process."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("smspartner_async", "httpx")}
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
        for instrumentor in _instrumentors():
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.aiohttp_client import (  # noqa: PLC0415
        AioHttpClientInstrumentor,
    )
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415

    return [HTTPXClientInstrumentor(), AioHttpClientInstrumentor()]


def starts_its_own_loop(code: str) -> bool:
    """Whether the block calls ``anyio.run``, ``asyncio.run`` or ``trio.run`` itself."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in {"anyio", "asyncio", "trio"}
        for node in ast.walk(ast.parse(code))
    )


async def run(code: CodeType, names: dict[str, Any]) -> None:
    result = eval(code, names)
    if inspect.iscoroutine(result):
        await result


async def run_python(source: str, where: str, names: dict[str, Any]) -> None:
    if starts_its_own_loop(source):
        # Such a block is a program's main module: it runs in a thread, with a loop of its own.
        code = compile(source, where, "exec")
        await anyio.to_thread.run_sync(exec, code, names)
    else:
        await run(compile(source, where, "exec", flags=TOP_LEVEL_AWAIT), names)


async def run_pycon(source: str, where: str, names: dict[str, Any]) -> None:
    checker = doctest.OutputChecker()
    for example in doctest.DocTestParser().get_examples(source):
        code = compile(example.source, where, "single", flags=TOP_LEVEL_AWAIT)
        out, error = io.StringIO(), None
        with contextlib.redirect_stdout(out):
            try:
                await run(code, names)
            except Exception as exc:
                error = traceback.format_exception_only(exc)[-1]
        if example.exc_msg is None:
            assert error is None, f"{where}: {example.source.strip()} raised {error}"
            assert checker.check_output(example.want, out.getvalue(), CHECK), (
                f"{where}: {example.source.strip()} printed {out.getvalue()!r}, "
                f"the page shows {example.want!r}"
            )
        else:
            assert error is not None, f"{where}: {example.source.strip()} did not raise"
            assert checker.check_output(example.exc_msg, error, CHECK), (
                f"{where}: raised {error!r}, the page shows {example.exc_msg!r}"
            )


async def call_tests(before: set[str], names: dict[str, Any]) -> None:
    """Call each ``test_*`` function the block just defined, as pytest would."""
    for name in [n for n in names if n.startswith("test_") and n not in before]:
        test: Callable[..., Any] = names[name]
        kwargs = {p: Emulator() for p in inspect.signature(test).parameters}
        result = test(**kwargs)
        if inspect.iscoroutine(result):
            await result


@pytest.mark.anyio
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
async def test_the_pages_python_runs_as_written(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    emulator = Emulator(main_balance=Decimal("10000"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    async with served(emulator, port=0) as base_url:
        monkeypatch.setenv("SMSPARTNER_API_KEY", emulator.api_key)
        monkeypatch.setenv("SMSPARTNER_BASE_URL", base_url)
        names = page_names(page, emulator, tmp_path)
        clients: list[sp.AsyncSMSPartner] = []  # every client the page makes, closed at the end
        with global_state_kept():
            try:
                for language, source, line in blocks(page):
                    where = f"{page.relative_to(ROOT)}:{line}"
                    before = set(names)
                    if language == "pycon":
                        await run_pycon(source, where, names)
                    else:
                        await run_python(source, where, names)
                    clients += [c for c in names.values() if isinstance(c, sp.AsyncSMSPartner)]
                    if names["client"].is_closed:  # a block's `async with` closed it
                        names["client"] = sp.AsyncSMSPartner()  # the next one starts with one
                    await call_tests(before, names)
            finally:
                clients.append(names["client"])
                for client in clients:
                    await client.aclose()
    sys.modules.pop("myapp.billing", None)
    sys.modules.pop("myapp", None)
