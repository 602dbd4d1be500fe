"""A service as a real process (``python -m <service>``) for integration tests: a free port,
start, wait for ``/readyz``, an HTTP client on it, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import httpx

from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def service_process(module: str, env: dict[str, str], port: int,
                          ready_timeout: float = 30) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``python -m <module>`` with ``env`` added to this environment, listening on ``port``;
    yield an HTTP client once ``/readyz`` answers 200; terminate it (kill after 15 s) on exit."""
    proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await _wait_ready(module, client, proc, ready_timeout)
            yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


async def _wait_ready(module: str, client: httpx.AsyncClient, proc: subprocess.Popen, timeout: float) -> None:
    async def ready() -> bool:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{module} exited {proc.returncode}: {err[-3000:]}")
        try:
            return (await client.get("/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await eventually(ready, timeout=timeout, interval=0.1, what=f"{module} ready")
    except AssertionError as exc:
        raise RuntimeError(f"{module} did not become ready in {timeout}s") from exc
