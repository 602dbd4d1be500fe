"""The programmes app served by uvicorn on a socket (SQLite store, one partnership attributed),
signing people in through the tests' own issuer: shared by the sign-in tests over HTTP and in
headless Chromium."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import uvicorn

from eventkit.settings import ServiceSettings
from eventkit.sql import open_store
from programmes.adapters.directory import MIGRATIONS
from programmes.app.policies import CandidaturesPolicies
from programmes.bootstrap import build_app, build_runtime
from tests.infra.processes import free_port

from oidc_test_issuer import AUDIENCE, TestIssuer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "programmes"))
from programmes_api_support import attributed, envelope_of  # noqa: E402

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
STATE_SECRET = "a-state-secret-of-the-tests-only-32-bytes-long"
CLIENT_SECRET = "pages-client-secret"


class Served:
    def __init__(self, base: str, public_url: str, settings: ServiceSettings) -> None:
        self.base, self.public_url, self.settings = base, public_url, settings

    def browser(self) -> httpx.AsyncClient:
        """A fresh browser: its own cookie jar, redirects followed by the test, hop by hop."""
        return httpx.AsyncClient(headers=BROWSER, timeout=10)


async def serve_programmes(issuer: TestIssuer, sqlite_url: str, *, public_url: str | None = None,
                           client_secret: str | None = CLIENT_SECRET, **env: str):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    public_url = public_url or base
    issuer.client.redirect_uris = [public_url + "/auth/callback"]
    issuer.client.secret = CLIENT_SECRET
    settings = ServiceSettings.from_env("programmes", env={
        "OIDC_ISSUER": issuer.url, "OIDC_AUDIENCE": AUDIENCE, "OIDC_CLIENT_ID": issuer.client.client_id,
        **({"OIDC_CLIENT_SECRET": client_secret} if client_secret else {}),
        "OIDC_STATE_SECRET": STATE_SECRET, "PUBLIC_URL": public_url, **env}, database_url=sqlite_url)
    store = await open_store(sqlite_url, extra_migrations=[MIGRATIONS])
    runtime = build_runtime(settings, store=store)
    app = build_app(runtime=runtime, consumers=False)
    async with store.transaction() as tx:  # the partnership exists, as candidatures' event made it
        await CandidaturesPolicies(app.state.programmes).on_event(tx, envelope_of(attributed()), attributed())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.05)

    async def stop() -> None:
        server.should_exit = True
        await task
        await store.close()

    return Served(base, public_url, settings), stop


