#!/usr/bin/env python3
"""Run the project's tasks on a fresh machine: Python 3.11+ is all it needs.

    python3 dev.py demo        the demo, against the embedded emulator (no network, no key)
    python3 dev.py test        every check CI runs: tests (asyncio + trio), lint, types
    python3 dev.py nox ARGS    any nox session, e.g. `python3 dev.py nox -s bench`

It creates ``.venv`` beside this file and installs the project into it from its own
``pyproject.toml`` (again only when that file or the wanted extras change), then runs the
task there. Nothing is installed outside ``.venv``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".smspartner-installed.json"

#: What each task needs installed (extras of pyproject.toml).
EXTRAS = {"demo": {"aiohttp"}, "test": {"dev"}, "nox": {"dev"}}


def ensure_venv(extras: set[str]) -> None:
    """Create ``.venv`` and install the project with ``extras``, unless already done."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    installed: dict[str, object] = {}
    if STAMP.exists():
        installed = json.loads(STAMP.read_text())
    have = set(installed.get("extras", [])) if installed.get("digest") == digest else set()
    if extras <= have or "dev" in have:
        return
    if not (BIN / "python").exists():
        print(f"dev.py: creating {VENV.relative_to(ROOT)}", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = sorted(extras | have)
    print(f"dev.py: installing the project with [{','.join(wanted)}]", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "-U", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f".[{','.join(wanted)}]"], check=True, cwd=ROOT)
    STAMP.write_text(json.dumps({"digest": digest, "extras": wanted}))


def run(*argv: str) -> int:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env["VIRTUAL_ENV"] = str(VENV)
    return subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode


def main(args: list[str]) -> int:
    task = args[0] if args else ""
    if task not in EXTRAS:
        print(__doc__)
        return 2
    ensure_venv(EXTRAS[task])
    if task == "demo":
        return run("smspartner-async", "demo", *args[1:])
    # Sessions run inside .venv, already set up above: no per-session virtualenvs.
    nox = ["nox", "--no-venv", "--no-install"]
    if task == "test":
        return run(*nox, "-s", "tests", "lint", "typecheck", *args[1:])
    return run(*nox, *args[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
