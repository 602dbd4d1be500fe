"""Start the four services as real processes, with the commands and environment that
docker-compose.yml names, pointed at this test's NATS, PostgreSQL databases and subject root."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import httpx
import yaml

from eventkit.auth import mint_token
from tests.infra.postgres import fresh_database
from tests.infra.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("candidatures", "programmes", "notifications", "reporting")
SECRET = "e2e-secret-of-at-least-thirty-two-bytes"


@dataclass
class RunningService:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    database_url: str = ""

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class System:
    services: dict[str, RunningService] = field(default_factory=dict)  # each service's first replica
    replicas: dict[str, list[RunningService]] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, dict[str, str]] = field(default_factory=dict)  # each service's environment

    def url(self, name: str) -> str:
        return self.services[name].url

    def token(self, role: str, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(SECRET, role, scope)}"}


class MissingVariable(LookupError):
    """Compose's ``${VAR:?message}``: the deployment refuses to start without VAR."""


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR:?error}`` / ``${VAR}`` substitution."""

    def substitute(match: re.Match) -> str:
        name, kind, rest = match.group(1), match.group(3), match.group(4)
        if env.get(name):
            return env[name]
        if kind == "?":
            raise MissingVariable(f"{name}: {rest or 'required'}")
        return rest if kind == "-" else ""

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:([-?])([^}]*))?\}", substitute, value)


# what an operator puts in compose's .env; the test then overrides the URLs and the secret
COMPOSE_SECRETS = {"POSTGRES_PASSWORD": "set-by-the-operator", "KEYCLOAK_ADMIN": "keycloak-admin",
                   "OIDC_CLIENT_SECRET": "pages-client-secret",
                   "KEYCLOAK_ADMIN_PASSWORD": "set-by-the-operator-too",
                   **{f"{name}_NATS_PASSWORD": f"{name.lower()}-nats-password"
                      for name in ("OPS", "CANDIDATURES", "PROGRAMMES", "NOTIFICATIONS", "REPORTING")}}


def compose_command(name: str, secrets: dict[str, str] = COMPOSE_SECRETS) -> tuple[list[str], dict[str, str]]:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]
    command = [sys.executable if part == "python" else part for part in spec["command"]]
    return command, {k: interpolate(str(v), secrets) for k, v in spec["environment"].items()}


async def wait_ready(client: httpx.AsyncClient, service: RunningService, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"{service.name} exited ({service.process.returncode}):\n{service.log()[-4000:]}")
        try:
            response = await client.get(f"{service.url}/readyz")
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        await _sleep(0.2)
    raise AssertionError(f"{service.name} not ready in {timeout}s: {last}\n{service.log()[-4000:]}")


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@asynccontextmanager
async def running_system(postgres_server_url: str, nats_url: str, subject_root: str, tmp_path: Path,
                         extra_env: dict[str, dict[str, str]] | None = None,
                         replicas: int = 1, own_public_urls: bool = False) -> AsyncIterator[System]:
    """The four services, each with ``replicas`` processes sharing its database (own HTTP ports).

    A service's first replica is ready before the others start: it has run the migrations.
    ``own_public_urls``: each service's ``PUBLIC_URL`` (and notifications' links to the
    others) is where this test runs it, as ``dev.py run`` does, instead of compose's defaults:
    feed URLs and page links then open (the demo walkthroughs follow them)."""
    system = System()
    databases = []
    ports = {name: free_port() for name in SERVICES}
    public = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            for name in SERVICES:
                cm = fresh_database(postgres_server_url)
                databases.append(cm)
                database_url = await cm.__aenter__()
                command, env = compose_command(name)
                env.update(
                    DATABASE_URL=database_url, NATS_URL=nats_url, HOST="127.0.0.1",
                    NATS_SUBJECT_ROOT=subject_root, JWT_SECRET=SECRET, LOG_JSON="1",
                    # no Keycloak here: development tokens instead of compose's identity provider
                    OIDC_ISSUER="", OIDC_AUDIENCE="", OIDC_DISCOVERY_URL="",
                    JUMELAGE_DATA_DIR=str(tmp_path / "data"), SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()),
                )
                if own_public_urls:
                    env.update(PUBLIC_URL=public[name])
                    if name == "notifications":
                        env.update(PROGRAMMES_PUBLIC_URL=public["programmes"],
                                   CANDIDATURES_PUBLIC_URL=public["candidatures"])
                env.update((extra_env or {}).get(name, {}))
                system.database_urls[name], system.env[name] = database_url, env
                for i in range(replicas):
                    service = start_service(name if i == 0 else f"{name}-{i + 1}", command, env, tmp_path,
                                            ports[name] if i == 0 else None)
                    system.replicas.setdefault(name, []).append(service)
                    system.services.setdefault(name, service)
                    if i == 0 and replicas > 1:
                        await wait_ready(client, service)
            for service in (s for group in system.replicas.values() for s in group):
                await wait_ready(client, service)
        yield system
    finally:
        every = [service for group in system.replicas.values() for service in group]
        for service in every:
            if service.process.poll() is None:
                service.process.terminate()
        for service in every:
            try:
                service.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                service.process.kill()
        for cm in reversed(databases):
            await cm.__aexit__(None, None, None)


def start_service(name: str, command: list[str], env: dict[str, str], tmp_path: Path,
                  port: int | None = None) -> RunningService:
    """One process of a service on ``port`` (a free one of its own when none), its output in ``<name>.log``."""
    port = port or free_port()
    log_path = tmp_path / f"{name}.log"
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "PORT": str(port)},
                               stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    return RunningService(name, f"http://127.0.0.1:{port}", process, log_path, env.get("DATABASE_URL", ""))
