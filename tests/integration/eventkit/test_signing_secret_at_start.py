"""A service process refuses to start outside development on a token secret anybody could know
or brute-force (the built-in development secret, or under 32 bytes): whoever has it mints any
role. Development is ``JUMELAGE_ENV=development`` (the embedded runner sets it); an issuer makes
the secret unused, hence irrelevant."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eventkit.auth import mint_token
from eventkit.settings import DEV_SECRET
from tests.infra.processes import ROOT, free_port, service_process

SERVICES = ["candidatures", "programmes", "notifications", "reporting"]


def clean_env(tmp_path, **env: str) -> dict[str, str]:
    """This environment without anything that says how tokens are checked, plus ``env``."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("JWT_SECRET", "JUMELAGE_ENV") and not k.startswith("OIDC_") and not k.endswith("_JWT_SECRET")}
    return {**base, "JUMELAGE_DATA_DIR": str(tmp_path), "NATS_URL": "nats://127.0.0.1:1", **env}


def start(service: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The process's end; one still running after a minute has started, which is the failure."""
    try:
        return subprocess.run([sys.executable, "-m", service], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{service} started and served instead of refusing")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_refuses_to_start_on_the_built_in_development_secret(tmp_path, service) -> None:
    done = start(service, clean_env(tmp_path))
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "development secret" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("secret", ["short", "x" * 31, "é" * 15])
def test_a_service_refuses_to_start_on_a_secret_under_32_bytes(tmp_path, secret) -> None:
    done = start("candidatures", clean_env(tmp_path, JWT_SECRET=secret, JUMELAGE_ENV="production"))
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "at least 32" in done.stderr, done.stderr[-2000:]


STRONG = "a-production-secret-of-at-least-32-bytes"


@pytest.mark.integration
@pytest.mark.parametrize("env, secret, status", [
    ({"JUMELAGE_ENV": "development", "JWT_SECRET": "short"}, "short", 403),
    # tokens are verified lazily (the issuer may come up after the services); its HS256 is refused
    ({"OIDC_ISSUER": "http://127.0.0.1:1/realms/jumelage"}, DEV_SECRET, 401),
    ({"JWT_SECRET": STRONG}, STRONG, 403),
], ids=["development", "issuer", "strong-secret"])
async def test_a_service_starts_in_development_with_an_issuer_or_with_a_strong_secret(
        tmp_path, nats_url, subject_root, env, secret, status) -> None:
    port = free_port()
    everything = clean_env(tmp_path, NATS_URL=nats_url, NATS_SUBJECT_ROOT=subject_root, PROGRAMMES_PORT=str(port),
                           **env)
    # service_process adds its env to os.environ: pass every variable, emptied where clean_env dropped it
    dropped = {k: "" for k in os.environ if k not in everything}
    async with service_process("programmes", {**dropped, **everything}, port) as client:
        assert (await client.get("/healthz")).status_code == 200
        # and a token of the internal role is refused, whatever signed it
        system = mint_token(secret, "system", "*")
        refused = await client.get("/partnerships", headers={"Authorization": f"Bearer {system}"})
        assert refused.status_code == status, refused.text
