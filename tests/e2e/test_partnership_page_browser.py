"""The partnership page in a real browser: the programmes app served by uvicorn on a socket,
headless Chromium opens the link an e-mail carries (token in the query) and sees the programme."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import uvicorn

from eventkit.auth import mint_token
from tests.e2e.harness import free_port
from tests.infra.browser import browse
from tests.waiting import eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "programmes"))
from programmes_api_support import PID, attributed, make_harness  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture
async def served():
    h = make_harness()
    await h.deliver(attributed())
    assert (await h.client.post(f"/partnerships/{PID}/actions", headers=h.school, json={
        "action_id": "act-1", "kind": "visit", "title": "Visite des salles XVIIIe", "class_ids": ["cm1-a"],
        "starts_at": "2025-11-18T09:00:00+01:00", "duration_minutes": 120, "place": "Musée Carnavalet"})).is_success
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(h.app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=30, what="uvicorn started")
    assert not task.done(), task
    yield f"http://127.0.0.1:{port}", h
    server.should_exit = True
    await task
    await h.client.aclose()


async def test_a_referent_opens_the_partnership_page_from_the_mail_link_in_headless_chromium(served, tmp_path):
    base, h = served
    url = f"{base}/partnerships/{PID}/page?token={mint_token(h.settings.jwt_secret, 'partner', 'musee-carnavalet')}"
    dom = await asyncio.to_thread(browse, url, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert f"Jumelage {PID}" in page and "Programme d'actions par classe" in page
    assert "Visite des salles XVIIIe" in page and "18/11/2025 09:00" in page and "Musée Carnavalet" in page
    assert '<strong id="state">en cours</strong>' in page
