"""The secret canary: watch everything a test makes visible for the test's API keys.

Every test runs with the canary key (``_support.CANARY``) as its account key; the answer
builders hand back sub-account keys starting with ``_support.SUB_CANARY``. A :class:`Watch`
installed around the test collects what a user or an operator could see, and
:meth:`Watch.leaks` names every place either string shows up:

- log records, at DEBUG (every logger's level lowered, the root's too), of the root logger and
  of ``smspartner_async``, ``httpx``, ``httpcore``, ``aiohttp``, ``asyncio`` and ``uvicorn*``
  (which need not propagate): message and formatted traceback;
- every :class:`~smspartner_async.SMSPartnerError` created: ``str`` and ``repr``, and those of
  each ``__cause__`` / ``__context__`` in its chain, read at the end of the test;
- every warning shown or recorded (``pytest.warns``, ``recwarn``, pytest's own capture), without
  touching the warning filters, so ``filterwarnings = error`` still turns warnings into errors;
- ``repr`` and ``str`` of the public library objects the test created: clients, resources,
  paginators, models, retry records, the emulator and its records;
- the locals of every frame the traceback of such an error (and of each error in its chain)
  reaches, as ``traceback.TracebackException(..., capture_locals=True)`` records them for
  Sentry, rich or ``pytest --showlocals``: the ``repr`` of each. Frames of the test suite itself
  are left out: a test holds the key by design.
"""

from __future__ import annotations

import enum
import functools
import logging
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import smspartner_async
import smspartner_async.testing

#: Loggers watched besides the root: ours, the HTTP stack's, and uvicorn's (whose own logging
#: configuration may stop propagation to the root).
WATCHED_LOGGERS = (
    "smspartner_async",
    "httpx",
    "httpcore",
    "aiohttp",
    "asyncio",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
)
#: Instances kept per class per test, and errors per test: enough to catch a leaky ``repr``,
#: bounded for the load tests that build thousands.
MAX_OBJECTS_PER_CLASS = 50
MAX_ERRORS = 1000
#: Errors per test whose traceback locals are read: enough for every path, bounded for speed.
MAX_TRACEBACKS = 100
_TESTS = Path(__file__).resolve().parent


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then each ``__cause__`` or ``__context__`` behind it, once each."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _safe_repr(value: object) -> str:
    # What capture_locals records (recent Pythons catch a failing repr the same way).
    try:
        return repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}>"


def traceback_locals(error: BaseException) -> str:
    """The ``repr`` of every local of every frame the tracebacks of ``error``'s chain reach,
    test-suite frames aside, as ``capture_locals=True`` records them."""
    lines: list[str] = []
    for each in chain(error):
        for frame, lineno in traceback.walk_tb(each.__traceback__):
            if Path(frame.f_code.co_filename).resolve().is_relative_to(_TESTS):
                continue
            where = f"{frame.f_code.co_filename}:{lineno} {frame.f_code.co_name}"
            lines += (f"{where}: {name} = {_safe_repr(v)}" for name, v in frame.f_locals.items())
    return "\n".join(lines)


@functools.cache
def public_classes() -> tuple[type, ...]:
    """Classes of the public API whose instances a user may print (errors aside)."""
    found: list[type] = []
    for module in (smspartner_async, smspartner_async.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if (
                isinstance(obj, type)
                and not issubclass(obj, BaseException | enum.Enum)
                and "__init__" in obj.__dict__
            ):
                found.append(obj)
    return tuple(found)


class _LogHandler(logging.Handler):
    def __init__(self, watch: Watch) -> None:
        super().__init__(logging.DEBUG)
        self._watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        seen: set[int] = record.__dict__.setdefault("_canary_watches", set())
        if id(self._watch) in seen:  # reached us again through propagation
            return
        seen.add(id(self._watch))
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge; its parts still are
            text = f"{record.msg!r} % {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        self._watch.found += self._watch.check(
            f"log record of {record.name!r} ({record.levelname})", text
        )


class Watch:
    """Collects where the canaries show during one test; see the module docstring."""

    def __init__(self, canaries: Iterable[str]) -> None:
        self.canaries = tuple(c for c in canaries if c)
        self.found: list[str] = []
        self.errors: list[BaseException] = []
        self.objects: dict[type, list[object]] = {}

    def check(self, where: str, text: str) -> list[str]:
        """Where each canary shows in ``text``, with the canary itself masked in the report."""
        found: list[str] = []
        for canary in self.canaries:
            if canary in text:
                at = text.index(canary)
                excerpt = text[max(0, at - 80) : at + len(canary) + 40]
                for each in self.canaries:
                    excerpt = excerpt.replace(each, "<CANARY>")
                found.append(f"{where}: ...{excerpt}...")
        return found

    @contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """Watch logs, errors, warnings and public objects while the block runs."""
        handler = _LogHandler(self)
        loggers = [logging.getLogger(), *map(logging.getLogger, WATCHED_LOGGERS)]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.DEBUG)  # so DEBUG records are made at all, everywhere
        for logger in loggers:
            logger.addHandler(handler)
        self._record_errors(monkeypatch)
        self._record_warnings(monkeypatch)
        for cls in public_classes():
            self._record_instances(monkeypatch, cls)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.removeHandler(handler)
                logger.setLevel(level)

    def leaks(self) -> list[str]:
        """Every place a canary showed so far, the errors and objects of the test included."""
        found = list(self.found)
        for i, error in enumerate(self.errors):
            found += self._check_error(error, with_locals=i < MAX_TRACEBACKS)
        for cls, objects in self.objects.items():
            for obj in objects:
                found += self.check(f"repr of a {cls.__name__}", f"{obj!r}\n{obj}")
        return found

    def _check_error(self, error: BaseException, *, with_locals: bool) -> list[str]:
        found: list[str] = []
        for current in chain(error):
            where = type(error).__name__
            if current is not error:
                where = f"{type(current).__name__} in the chain of {where}"
            found += self.check(f"text of {where}", f"{current}\n{current!r}")
        if with_locals:
            where = f"traceback locals of {type(error).__name__}"
            found += self.check(where, traceback_locals(error))
        return found

    def _record_errors(self, monkeypatch: pytest.MonkeyPatch) -> None:
        base = smspartner_async.SMSPartnerError
        init = base.__init__
        errors = self.errors

        def recording_init(self: BaseException, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            if len(errors) < MAX_ERRORS:
                errors.append(self)

        monkeypatch.setattr(base, "__init__", recording_init)

    def _record_warnings(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Every warning that is not turned into an error or ignored reaches _showwarnmsg,
        # including those catch_warnings(record=True) collects (it swaps _showwarnmsg_impl).
        show: Callable[[warnings.WarningMessage], None] = warnings._showwarnmsg  # type: ignore[attr-defined]

        def checking_show(message: warnings.WarningMessage) -> None:
            self.found += self.check(f"warning {message.category.__name__}", str(message.message))
            show(message)

        monkeypatch.setattr(warnings, "_showwarnmsg", checking_show)

    def _record_instances(self, monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
        init = cls.__dict__["__init__"]
        kept = self.objects.setdefault(cls, [])

        @functools.wraps(init)
        def recording_init(obj: object, *args: Any, **kwargs: Any) -> None:
            init(obj, *args, **kwargs)
            if len(kept) < MAX_OBJECTS_PER_CLASS:
                kept.append(obj)

        monkeypatch.setattr(cls, "__init__", recording_init)
