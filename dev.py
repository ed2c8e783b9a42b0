#!/usr/bin/env python3
"""Run the project's tasks on a fresh machine: Python 3.11+ is all it needs.

    python3 dev.py demo        the demo, against the embedded emulator (no network, no key)
    python3 dev.py test        every check CI runs: tests (asyncio + trio), lint, types, then
                               the tests again from the sdist against the lowest dependencies
    python3 dev.py lowest      only that last step
    python3 dev.py nox ARGS    any nox session, e.g. `python3 dev.py nox -s bench`

It creates ``.venv`` beside this file and installs the project into it from its own
``pyproject.toml`` (its extras, and the development dependency groups with
``pip install --group``), again only when that file or the wanted set changes, then runs the
task there. Nothing is installed outside ``.venv`` and ``.venv-lowest``.

The lowest run checks that the floors ``pyproject.toml`` declares are true: every ``>=`` of the
package's dependencies, of its ``aiohttp``, ``emulator`` and ``otel`` extras and of the ``test``
group is pinned to that very version (the rest resolves to the newest that fits). It builds the
sdist, installs the package from it (not editable) and runs the suite from the unpacked sdist,
so the sdist is checked to carry everything its tests need.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOWEST = ROOT / ".venv-lowest"

#: What each task needs installed: extras of the package, dependency groups beside it.
NEEDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "demo": (frozenset({"aiohttp"}), frozenset()),
    "test": (frozenset({"aiohttp", "emulator", "otel"}), frozenset({"dev"})),
    "nox": (frozenset({"aiohttp", "emulator", "otel"}), frozenset({"dev"})),
}
#: What the lowest run installs (from the sdist), every floor pinned.
LOWEST_EXTRAS = frozenset({"aiohttp", "emulator", "otel"})
LOWEST_GROUPS = frozenset({"test"})


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def pip(env: Path) -> list[str]:
    return [str(bin_dir(env) / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]


def create(env: Path) -> None:
    """Create ``env`` with a pip new enough for ``--group`` (25.1)."""
    if not (bin_dir(env) / "python").exists():
        print(f"dev.py: creating {env.relative_to(ROOT)}", flush=True)
        venv.create(env, with_pip=True)
    subprocess.run([*pip(env), "install", "-U", "pip>=25.1"], check=True)


def ensure_venv(extras: frozenset[str], groups: frozenset[str]) -> None:
    """Install the project (editable) with ``extras`` and ``groups`` into ``.venv``.

    Done again whenever ``pyproject.toml`` changed since the last install, so a worktree that
    pulls a change of dependencies gets it on its next run.
    """
    stamp = VENV / ".smspartner-installed.json"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed: dict[str, Any] = json.loads(stamp.read_text()) if stamp.exists() else {}
    if installed.get("digest") != digest or "groups" not in installed:
        installed = {}  # pyproject.toml changed (or an older dev.py installed): install again
    have_extras, have_groups = set(installed.get("extras", [])), set(installed.get("groups", []))
    if extras <= have_extras and groups <= have_groups:
        return
    create(VENV)
    want_extras, want_groups = sorted(extras | have_extras), sorted(groups | have_groups)
    print(
        f"dev.py: installing the project [{','.join(want_extras)}] "
        f"with the groups {', '.join(want_groups) or '(none)'}",
        flush=True,
    )
    group_args = [arg for group in want_groups for arg in ("--group", group)]
    subprocess.run(
        [*pip(VENV), "install", "-e", f".[{','.join(want_extras)}]", *group_args],
        check=True,
        cwd=ROOT,
    )
    stamp.write_text(json.dumps({"digest": digest, "extras": want_extras, "groups": want_groups}))


_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$"
)


def group_requirements(pyproject: dict[str, object], name: str) -> list[str]:
    """The requirements of a dependency group, its ``include-group`` entries expanded."""
    groups: dict[str, list[object]] = pyproject["dependency-groups"]  # type: ignore[assignment]
    out: list[str] = []
    for item in groups[name]:
        if isinstance(item, dict):
            out += group_requirements(pyproject, item["include-group"])
        else:
            out.append(str(item))
    return out


def lowest_constraints(pyproject: dict[str, object]) -> list[str]:
    """Each declared ``>=`` floor of what the lowest run installs, pinned with ``==``."""
    project: dict[str, object] = pyproject["project"]  # type: ignore[assignment]
    optional: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    requirements: list[str] = list(project["dependencies"])  # type: ignore[call-overload]
    for extra in sorted(LOWEST_EXTRAS):
        requirements += optional[extra]
    for group in sorted(LOWEST_GROUPS):
        requirements += group_requirements(pyproject, group)
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise SystemExit(f"dev.py: cannot read the requirement {requirement!r}")
        name, specifiers, marker = match.groups()
        floors = [
            s.strip()[2:].strip() for s in specifiers.split(",") if s.strip()[:2] in (">=", "==")
        ]
        if name.lower() == "smspartner-async" or not floors:
            continue
        pins[name.lower()] = f"{name}=={floors[0]}{' ' + marker if marker else ''}"
    return sorted(pins.values())


def ensure_lowest() -> Path:
    """``.venv-lowest`` with the package installed from a fresh sdist; its unpacked tree."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build = LOWEST / "build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    print("dev.py: building the sdist", flush=True)
    subprocess.run(
        [str(bin_dir(VENV) / "python"), "-m", "build", "--sdist", "--outdir", str(build), "-q"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    [sdist] = build.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(build, filter="data")
    [tree] = (p for p in build.iterdir() if p.is_dir())
    constraints = LOWEST / "constraints.txt"
    create(LOWEST)
    constraints.write_text("".join(f"{pin}\n" for pin in lowest_constraints(pyproject)))
    print(f"dev.py: installing the sdist into {LOWEST.name}, floors pinned:", flush=True)
    print("    " + ", ".join(constraints.read_text().split("\n")).rstrip(", "), flush=True)
    group_args = [
        a for g in sorted(LOWEST_GROUPS) for a in ("--group", f"{tree}/pyproject.toml:{g}")
    ]
    extras = ",".join(sorted(LOWEST_EXTRAS))
    subprocess.run(
        [*pip(LOWEST), "install", "-c", str(constraints), f"{tree}[{extras}]", *group_args],
        check=True,
    )
    # A same-version package is not reinstalled: force the one just built.
    subprocess.run(
        [*pip(LOWEST), "install", "--no-deps", "--force-reinstall", str(tree)], check=True
    )
    return tree


def run(env: Path, *argv: str, cwd: Path = ROOT) -> int:
    environ = dict(os.environ, PATH=f"{bin_dir(env)}{os.pathsep}{os.environ.get('PATH', '')}")
    environ["VIRTUAL_ENV"] = str(env)
    return subprocess.run(argv, cwd=cwd, env=environ, check=False).returncode


def lowest(args: list[str]) -> int:
    tree = ensure_lowest()
    print("dev.py: the test suite, from the sdist, on the lowest dependencies", flush=True)
    return run(LOWEST, "python", "-m", "pytest", "-q", *args, cwd=tree)


def main(args: list[str]) -> int:
    task = args[0] if args else ""
    if task not in (*NEEDS, "lowest"):
        print(__doc__)
        return 2
    ensure_venv(*NEEDS["test" if task == "lowest" else task])
    if task == "demo":
        return run(VENV, "smspartner-async", "demo", *args[1:])
    if task == "lowest":
        return lowest(args[1:])
    # Sessions run inside .venv, already set up above: no per-session virtualenvs.
    nox = ["nox", "--no-venv", "--no-install"]
    if task == "test":
        checks = run(VENV, *nox, "-s", "tests", "lint", "typecheck", *args[1:])
        return checks or lowest([])
    return run(VENV, *nox, *args[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
