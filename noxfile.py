"""The one entry point for the project's checks.

``python3 dev.py test`` runs ``tests``, ``lint`` and ``typecheck`` inside ``.venv``; plain
``nox -s NAME`` runs any session in a virtualenv of its own.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, every async test on asyncio and trio, with branch coverage.

    ``coverage run`` rather than pytest-cov: the package's pytest plugin (an entry point) imports
    it before pytest-cov could start, which would hide every module-level line. Child processes
    (the CLI tests) are measured too (``patch = ["subprocess"]``); the report fails under 95%.
    """
    session.install("-e", ".[test]")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict and pyright (strict) on the package and the user-side typing tests."""
    session.install("-e", ".[typecheck]")
    session.run("mypy")
    session.run("pyright")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark, full size; figures go to benchmarks/README.md."""
    session.install("-e", ".[bench]")
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site, built strictly (warnings are errors) into site/."""
    session.install("-e", ".[examples]")
    session.run("python", "-m", "mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session
def demo(session: nox.Session) -> None:
    """The demo against the embedded emulator."""
    session.install("-e", ".[aiohttp]")
    session.run("smspartner-async", "demo")
