"""Rebuild from the services' stores: the producing services' PostgreSQL stores hold a history,
the operator's ``jumelage republish`` sends it to JetStream, the live consumers apply it; then
JetStream loses the streams, ``jumelage republish`` refills them from the stores and ``python -m
reporting rebuild`` gives exactly the live figures (and the independent recount's), on real NATS
and PostgreSQL, through the real commands."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path

import pytest

from jumelage_contracts.subjects import stream_name

from eventkit.bus import NatsConnection
from eventkit.settings import ServiceSettings
from eventkit.sql import make_engine, open_store
from reporting.adapters import queries
from reporting.adapters.queries import Filters
from reporting.bootstrap import SOURCES, build_runtime
from reporting.sample import history
from tests.integration.reporting.reporting_support import wait_applied

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "reporting"))
from reporting_recount import by_domain, recount  # noqa: E402

pytestmark = pytest.mark.integration
ROOT_DIR = Path(__file__).resolve().parents[3]
FAR = date(2031, 1, 1)
DOMAIN_METRICS = ("candidatures_submitted", "partnerships_active", "actions_realised")


async def run(*args: str, env: dict[str, str]) -> str:
    done = await asyncio.to_thread(subprocess.run, list(args), env={**os.environ, "LOG_LEVEL": "WARNING", **env},
                                   capture_output=True, text=True, timeout=180, cwd=ROOT_DIR)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


async def republish_all(urls: dict[str, str], nats_url: str, root: str) -> None:
    jumelage = str(Path(sys.executable).parent / "jumelage")
    for source, url in urls.items():
        out = await run(jumelage, "republish", "--service", source, "--from-position", "1",
                        env={f"{source.upper()}_DATABASE_URL": url, "NATS_URL": nats_url, "NATS_SUBJECT_ROOT": root})
        assert f"of {source} from position 1" in out




async def snapshot(engine, checks) -> dict:
    """Every figure the checks name, the domain breakdowns and the partnership lists as of D."""
    out = {}
    async with engine.connect() as conn:
        gen = await queries.current_generation(conn)
        for as_of, flt in checks:
            values = await queries.indicators(conn, gen, as_of, Filters(**flt))
            rows = await queries.breakdown(conn, gen, as_of, Filters(**flt), "domain")
            values["_by_domain"] = {r["group"]: {m: r[m] for m in DOMAIN_METRICS} for r in rows
                                    if any(r[m] for m in DOMAIN_METRICS)}
            _, values["_partnerships"] = await queries.partnerships(conn, gen, as_of, Filters(**flt), None, 0, 1000)
            out[(as_of, tuple(sorted(flt.items())))] = values
    return out


async def test_a_rebuild_from_the_services_stores_through_republish_equals_live(
        postgres_server_url, postgres_url, nats_url, subject_root) -> None:
    from tests.infra.postgres import fresh_database

    events = history(random.Random(4242), campaigns=3, candidatures=20)
    async with AsyncExitStack() as stack:
        urls = {source: await stack.enter_async_context(fresh_database(postgres_server_url)) for source in SOURCES}
        # the producing services' stores, holding the history (as their command handlers wrote it)
        for source, url in urls.items():
            store = await open_store(url)
            try:
                for env in events:
                    if env.source == source:
                        await store.append(env.stream_id, [env])
            finally:
                await store.close()

        settings = ServiceSettings.from_env("reporting", env={}, database_url=postgres_url, nats_url=nats_url,
                                            subject_root=subject_root)
        runtime = build_runtime(settings)
        await runtime.start()
        try:
            await republish_all(urls, nats_url, subject_root)
            await wait_applied(runtime.engine, len(events), timeout=60.0, interval=0.2)
        finally:
            await runtime.stop()
        domains = sorted({int(x) for e in events if e.type in ("OfferPublished", "OfferUpdated")
                          for x in e.data["eac_domains"]})
        checks = [(FAR, {}), (FAR, {"academie": events[0].academie}), (date(2025, 11, 1), {}),
                  (date(2026, 6, 15), {"ep": "REP"}), (date(2026, 9, 1), {"ep": "none"}),
                  (FAR, {"domain": domains[0]}), (date(2026, 1, 10), {"ruralite": "petites_villes"})]
        engine = make_engine(postgres_url)
        stack.push_async_callback(engine.dispose)
        live = await snapshot(engine, checks)
        for (as_of, flt), values in live.items():
            want = recount(events, as_of, dict(flt))
            want.pop("_by_month")
            want["_by_domain"] = by_domain(events, as_of, dict(flt), DOMAIN_METRICS)
            got = {k: v for k, v in values.items() if k != "_partnerships"}
            if "domain" in dict(flt):
                want["_by_domain"] = got["_by_domain"]
            assert got == want, (as_of, flt)
        assert any(values["_partnerships"] for values in live.values())

        # JetStream loses the streams (a lost node, limits): a rebuild from it alone would lose
        # everything. The stores still hold every event: republish, then rebuild.
        nats = NatsConnection(nats_url, name="test-admin")
        await nats.start()
        try:
            assert await nats.wait_connected(10)
            for source in SOURCES:
                await nats.js.delete_stream(stream_name(source, subject_root))
        finally:
            await nats.close()
        await republish_all(urls, nats_url, subject_root)
        out = await run(sys.executable, "-m", "reporting", "rebuild",
                        env={"REPORTING_DATABASE_URL": postgres_url, "NATS_URL": nats_url,
                             "NATS_SUBJECT_ROOT": subject_root})
        assert '"generation": 2' in out and f'"events": {len(events)}' in out
        assert await snapshot(engine, checks) == live
