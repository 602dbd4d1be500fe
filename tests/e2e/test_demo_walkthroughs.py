"""The demo walkthroughs of ``deploy/demo/`` run against the four services as real processes
(PostgreSQL, NATS JetStream, manual clocks) and a mail sink, as a person runs them beside
``CLOCK=manual python3 dev.py run``: each plays its year over HTTP and checks what programmes,
notifications (e-mails, iCal) and reporting show; the script's own checks are the assertions
(it exits 1 naming the failed ones)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eventkit.devrun import start_mail_sink
from tests.e2e.harness import ROOT, SECRET, SERVICES, running_system
from tests.infra.processes import free_port

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("script", ["walkthrough.py", "cnr_walkthrough.py", "acm_walkthrough.py"])
async def test_a_demo_walkthrough_passes_every_check_against_the_running_services(
        script, postgres_server_url, nats_url, subject_root, tmp_path):
    demo = tmp_path / "demo"
    smtp_port = free_port()
    start_mail_sink(demo / "mail", smtp_port)
    env = {name: {"CLOCK": "manual"} for name in SERVICES}
    env["notifications"].update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port))
    async with running_system(postgres_server_url, nats_url, subject_root, tmp_path, extra_env=env,
                              own_public_urls=True) as system:
        urls = {f"{name.upper()}_URL": system.url(name) for name in SERVICES}
        # WALK_WITHIN: how long an event may take to reach a service; a shared test machine is slower
        # than a person's laptop, and speed is the benchmarks' business, not this test's.
        run = subprocess.run([sys.executable, str(ROOT / "deploy" / "demo" / script)], cwd=ROOT,
                             env={**os.environ, **urls, "JWT_SECRET": SECRET, "JUMELAGE_DATA_DIR": str(demo),
                                  "WALK_WITHIN": "60"},
                             capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{script} failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert "every check passed" in run.stdout
