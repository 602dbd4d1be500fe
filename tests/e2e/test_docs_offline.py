"""``/docs`` and ``/redoc`` render in a real headless Chromium with the network off: their
scripts and styles come from the service, not from a CDN."""

from __future__ import annotations

import asyncio

import pytest

from tests.infra.browser import browse, png_distinct_bytes
from tests.infra.processes import free_port, service_process

pytestmark = pytest.mark.e2e


@pytest.fixture
async def reporting(tmp_path, nats_url, subject_root):
    port = free_port()
    env = {"REPORTING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}", "NATS_URL": nats_url,
           "NATS_SUBJECT_ROOT": subject_root, "REPORTING_PORT": str(port), "JUMELAGE_DATA_DIR": str(tmp_path),
           "JUMELAGE_ENV": "development"}
    async with service_process("reporting", env, port) as client:
        yield client


async def test_swagger_ui_renders_every_operation_without_internet(reporting, tmp_path) -> None:
    url = f"{reporting.base_url}/docs"
    dom = await asyncio.to_thread(browse, url, tmp_path / "dom", "--virtual-time-budget=15000", "--dump-dom",
                                  offline=True)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "cdn.jsdelivr.net" not in dom.stdout
    # Swagger UI builds one "opblock" per operation from /openapi.json once its script ran
    assert dom.stdout.count('class="opblock ') >= 5, dom.stdout[:3000]
    assert "Jumelage — reporting" in dom.stdout

    shot = tmp_path / "docs.png"
    result = await asyncio.to_thread(browse, url, tmp_path / "shot", "--virtual-time-budget=15000",
                                     f"--screenshot={shot}", offline=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert png_distinct_bytes(shot) > 50  # a blank page (the CDN case) has a handful


async def test_redoc_renders_without_internet(reporting, tmp_path) -> None:
    dom = await asyncio.to_thread(browse, f"{reporting.base_url}/redoc", tmp_path / "dom",
                                  "--virtual-time-budget=15000", "--dump-dom", offline=True)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "/readyz" in dom.stdout  # ReDoc lists the operations' paths once its script ran


async def test_the_apis_share_one_naming_and_one_version(reporting) -> None:
    info = (await reporting.get("/openapi.json")).json()["info"]
    assert info["title"] == "Jumelage — reporting"
    from importlib.metadata import version

    assert info["version"] == version("jumelage")
