#!/usr/bin/env python3
"""One entry point for a fresh checkout; needs only Python 3.11+.

    python3 dev.py serve   # embedded PostgreSQL + demo data, http://127.0.0.1:8000
    python3 dev.py test    # the test suite (embedded PostgreSQL, or DATABASE_URL)
    python3 dev.py lint    # ruff + mypy --strict
    python3 dev.py bench   # the ledger benchmark (docs/BENCHMARKS.md)
    python3 dev.py i18n    # the pages' message catalogues: extract, update, compile (or one of them)

It creates .venv and installs the exact, hash-checked versions in
requirements.lock (plus this project, editable) the first time, and again
whenever requirements.lock or pyproject.toml change. Extra arguments go to the
underlying command (`python3 dev.py test -k holds`, `python3 dev.py serve --port 9000`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".linli-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Linli Points needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists() and not (BIN / "python.exe").exists():
        print(f"creating {VENV} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = str(BIN / "python")
    print("installing the locked dependencies (requirements.lock) ...", file=sys.stderr)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "-r", str(ROOT / "requirements.lock")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


COMMANDS = {
    "serve": lambda args: [str(BIN / "points"), "serve", "--demo", *args],
    "test": lambda args: [str(BIN / "pytest"), *args],
    "lint": None,
    "bench": lambda args: [str(BIN / "python"), str(ROOT / "bench" / "ledger.py"), *args],
    "points": lambda args: [str(BIN / "points"), *args],
    "i18n": None,
}

LOCALE_DIR = ROOT / "points" / "pages" / "locale"
I18N_STEPS = ("extract", "update", "compile")


def i18n(steps: list[str]) -> int:
    """Babel's three steps for the pages: extract the messages (templates, page code, the API's problem titles)
    into messages.pot, merge them into each locale's messages.po (translations kept; new ones empty), compile the
    .po files to the .mo files the app loads and the package ships. Translate in the .po files between update and
    compile."""
    unknown = [s for s in steps if s not in I18N_STEPS]
    if unknown:
        print(f"unknown i18n step {unknown[0]!r}; the steps are {', '.join(I18N_STEPS)}", file=sys.stderr)
        return 2
    pybabel = str(BIN / "pybabel")
    pot = str(LOCALE_DIR / "messages.pot")
    commands = {
        "extract": [pybabel, "extract", "-F", "babel.cfg", "--no-location", "--sort-output", "-o", pot, "."],
        "update": [pybabel, "update", "-i", pot, "-d", str(LOCALE_DIR), "--no-fuzzy-matching", "--ignore-obsolete"],
        "compile": [pybabel, "compile", "-d", str(LOCALE_DIR), "--statistics"],
    }
    for step in steps or list(I18N_STEPS):
        code = subprocess.run(commands[step], cwd=ROOT).returncode
        if code:
            return code
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    command, args = argv[0], argv[1:]
    if command == "lint":
        ruff = subprocess.run([str(BIN / "ruff"), "check", str(ROOT)], cwd=ROOT).returncode
        fmt = subprocess.run([str(BIN / "ruff"), "format", "--check", str(ROOT)], cwd=ROOT).returncode
        mypy = subprocess.run([str(BIN / "mypy")], cwd=ROOT).returncode
        return ruff or fmt or mypy
    if command == "i18n":
        return i18n(args)
    builder = COMMANDS[command]
    assert builder is not None
    cmd = builder(args)
    if os.name == "nt":
        return subprocess.run(cmd, cwd=ROOT).returncode
    os.chdir(ROOT)
    os.execv(cmd[0], cmd)  # hand over the terminal: Ctrl-C goes straight to the server


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
