"""Headless Chromium for the browser tests: ``CHROMIUM=/path`` or ``chromium`` on PATH.

``python3 dev.py test`` installs it when it may and stops with the command to run when it may not,
so a missing browser fails loudly here instead of skipping."""

from __future__ import annotations

import os
import shutil
import subprocess
import zlib
from pathlib import Path

# What a sandbox without internet needs (background networking would be refused many times at
# once), plus a proxy nobody listens on for ``offline``: every request that is not to loopback
# (Chromium never proxies loopback) fails, as it would with the network off.
BASE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1280,1500")
OFFLINE_FLAGS = ("--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


def chromium() -> str:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        assert Path(explicit).exists(), f"CHROMIUM={explicit} does not exist"
        return explicit
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is missing: `python3 dev.py test` installs it, or set CHROMIUM=/path/to/chromium"
    return found


def browse(url: str, profile: Path, *extra: str, offline: bool = False) -> subprocess.CompletedProcess:
    flags = [*BASE_FLAGS, f"--user-data-dir={profile}", *(OFFLINE_FLAGS if offline else ()), *extra, url]
    return subprocess.run([chromium(), *flags], capture_output=True, text=True, timeout=90)


def png_distinct_bytes(path: Path) -> int:
    """How many different byte values the image's pixel data holds: a blank page has a handful,
    a rendered one hundreds (no image library needed to tell them apart)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    at, idat = 8, b""
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        if kind == b"IDAT":
            idat += data[at + 8:at + 8 + length]
        at += 12 + length
    return len(set(zlib.decompress(idat)))
