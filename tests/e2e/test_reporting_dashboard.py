"""The académie dashboard in a real browser: ``python -m reporting`` serves it, headless Chromium
loads it with the token in the link, the figures and the four charts are there, and a screenshot
goes to test-artifacts/."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eventkit.auth import mint_token
from eventkit.migrations import run_migrations
from eventkit.sql import make_engine
from reporting.app.live import apply_live
from reporting.bootstrap import MIGRATIONS
from tests.e2e.harness import free_port
from tests.infra.browser import browse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "reporting"))
from reporting_app import hostile_story, story  # noqa: E402
from reporting_figures_story import Q, three_figures  # noqa: E402

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SECRET = "dashboard-test-secret-of-at-least-32-bytes"


@pytest.fixture
async def served(request, tmp_path, nats_url, subject_root):
    """The service over a store holding the contracts' story (or the envelopes given as param)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}"
    await run_migrations(url, [MIGRATIONS])
    engine = make_engine(url)
    for env in getattr(request, "param", None) or story():
        async with engine.begin() as conn:
            await apply_live(conn, env)
    await engine.dispose()
    port = free_port()
    env = {**os.environ, "REPORTING_DATABASE_URL": url, "NATS_URL": nats_url, "NATS_SUBJECT_ROOT": subject_root,
           "REPORTING_PORT": str(port), "JWT_SECRET": SECRET, "JUMELAGE_DATA_DIR": str(tmp_path)}
    log = open(tmp_path / "reporting.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "reporting"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while True:
                assert process.poll() is None, (tmp_path / "reporting.log").read_text()
                try:
                    if (await client.get(base + "/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "reporting did not get ready"
                await asyncio.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_the_dashboard_shows_the_academie_figures_and_charts_in_headless_chromium(served, tmp_path) -> None:
    token = mint_token(SECRET, "academie", "paris")
    url = f"{served}/dashboard/paris?token={token}"
    dom = await asyncio.to_thread(browse, url, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "académie de Paris" in html
    figure = re.search(r'data-indicator="campaigns_opened"><div class="value">([^<]+)<', html)
    assert figure and figure.group(1) == "1"
    pupils = re.search(r'data-indicator="pupils_reached"><div class="value">([^<]+)<', html)
    assert pupils and int(pupils.group(1)) > 0
    assert html.count("<svg") == 4
    assert "Jumelages attribués par dispositif" in html and "Part des jumelages en REP / REP+" in html
    assert "Actions prévues et réalisées par mois" in html and "Renouvellements" in html

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "reporting-dashboard.png"
    shot.unlink(missing_ok=True)
    result = await asyncio.to_thread(browse, url, tmp_path / "profile-shot", f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000


@pytest.mark.parametrize("served", [three_figures()], indirect=True)
async def test_the_dashboard_shows_cnr_funds_rencontres_and_the_questionnaire_in_headless_chromium(
        served, tmp_path) -> None:
    token = mint_token(SECRET, "academie", "paris")
    url = f"{served}/dashboard/paris?token={token}"
    dom = await asyncio.to_thread(browse, url, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    sections = dict(re.findall(r'<section class="figure-table" id="(\w+)">(.*?)</section>', dom.stdout, re.S))
    assert set(sections) == {"funds", "rencontres", "questionnaire"}
    funds = re.findall(r"<td[^>]*>([^<]*)</td>", sections["funds"])
    assert funds[:8] == ["Paris", "75", "2025-2026", "REP+", "3000", "2500", "1000", "1"]
    assert "Ce qui fait que ça marche" in sections["rencontres"] and "https://example.fr/v1" in sections["rencontres"]
    assert Q in sections["questionnaire"] and "<td>oui</td>" in sections["questionnaire"]
    for name in ("funds", "rencontres", "questionnaire"):
        assert f'href="/{name}.csv?academie=paris' in sections[name] and f'href="/{name}.xlsx?' in sections[name]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "reporting-dashboard-figures.png"
    shot.unlink(missing_ok=True)
    result = await asyncio.to_thread(browse, url, tmp_path / "profile-shot", f"--screenshot={shot}",
                                     "--window-size=1280,2400")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]


async def test_the_dashboard_refuses_another_academie_in_the_browser(served, tmp_path) -> None:
    token = mint_token(SECRET, "academie", "lille")
    dom = await asyncio.to_thread(browse, f"{served}/dashboard/paris?token={token}", tmp_path / "p", "--dump-dom")
    assert "Forbidden" in dom.stdout and "<svg" not in dom.stdout


HOSTILE = hostile_story('<img src=x onerror="document.title=\'pwned\'">',
                        "<script>document.title='pwned'</script>")


@pytest.mark.parametrize("served", [HOSTILE], indirect=True)
async def test_names_carrying_script_run_nothing_in_the_browser(served, tmp_path) -> None:
    """The DOM is dumped after the page's scripts ran: an injected handler would have renamed it."""
    token = mint_token(SECRET, "academie", "paris")
    dom = await asyncio.to_thread(browse, f"{served}/dashboard/paris?token={token}", tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>Tableau de bord Paris — Jumelage</title>" in dom.stdout
    assert "<img" not in dom.stdout and "<script" not in dom.stdout


async def test_the_national_page_shows_every_academie_side_by_side_in_headless_chromium(served, tmp_path) -> None:
    token = mint_token(SECRET, "national", "*")
    url = f"{served}/national?token={token}"
    dom = await asyncio.to_thread(browse, url, tmp_path / "profile-national", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<title>Jumelages — vue nationale</title>" in html
    assert html.count(' data-academie="') == 31  # 30 académies and the national total
    paris = re.search(r'<tr data-academie="paris">.*?data-indicator="partnerships_active">([^<]+)<', html, re.S)
    total = re.search(r'<tr class="total" data-academie="\*">.*?data-indicator="partnerships_active">([^<]+)<',
                      html, re.S)
    assert paris and total and int(paris.group(1)) == int(total.group(1)) > 0  # the story is one paris partnership
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "reporting-national.png"
    shot.unlink(missing_ok=True)
    result = await asyncio.to_thread(browse, url, tmp_path / "profile-national-shot", f"--screenshot={shot}")
    assert result.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000
    refused = await asyncio.to_thread(browse, f"{served}/national?token={mint_token(SECRET, 'academie', 'paris')}",
                                      tmp_path / "profile-national-403", "--dump-dom")
    assert "Forbidden" in refused.stdout or "403" in refused.stdout
    assert 'data-academie="paris"' not in refused.stdout
