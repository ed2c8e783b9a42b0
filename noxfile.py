"""The one entry point for the project's checks.

``python3 dev.py test`` runs ``tests``, ``lint`` and ``typecheck`` inside ``.venv``; plain
``nox -s NAME`` runs any session in a virtualenv of its own. What each session installs comes
from ``pyproject.toml``: the package's extras and the development dependency groups (PEP 735).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def install(session: nox.Session, *groups: str, extras: str = "aiohttp,emulator,otel") -> None:
    """The package (editable, with ``extras``) and the dependency ``groups``."""
    session.install("-e", f".[{extras}]", *nox.project.dependency_groups(PYPROJECT, *groups))


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, every async test on asyncio and trio, with branch coverage.

    ``coverage run`` rather than pytest-cov: the package's pytest plugin (an entry point) imports
    it before pytest-cov could start, which would hide every module-level line. Child processes
    (the CLI tests) are measured too (``patch = ["subprocess"]``); the report fails under 95%.
    """
    install(session, "test")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict and pyright (strict) on the package, the examples and the typing tests;
    pyright's ``--verifytypes``: every public name of the package fully typed (100%)."""
    install(session, "typecheck")
    session.run("mypy")
    session.run("pyright")
    session.run("pyright", "--verifytypes", "smspartner_async", "--ignoreexternal")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark, full size; figures go to benchmarks/README.md."""
    install(session, "bench")
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site, built strictly (warnings are errors) into site/."""
    install(session, "docs", extras="aiohttp")
    session.run("python", "-m", "mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def demo(session: nox.Session) -> None:
    """The demo against the embedded emulator."""
    install(session, extras="aiohttp")
    session.run("smspartner-async", "demo")
