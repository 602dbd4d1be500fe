"""Reporting on real NATS JetStream and PostgreSQL: the live consumers project a random history
exactly as the independent recount says; a rebuild from JetStream, done while queries are being
answered and while new events keep arriving, swaps in a generation with the same figures."""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import date
from pathlib import Path

import pytest

from jumelage_contracts.personal import ERASED
from jumelage_contracts.subjects import event_subject

from eventkit.bus import NatsConnection, provision_now
from eventkit.settings import ServiceSettings
from reporting.adapters import queries
from reporting.adapters.jetstream import JetStreamLog
from reporting.adapters import figures as asked
from reporting.adapters.queries import Filters
from reporting.app.rebuild import rebuild
from reporting.bootstrap import SOURCES, build_runtime
from reporting.sample import history
from tests.integration.reporting.reporting_support import texts_holding, wait_applied

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "reporting"))
import reporting_figures_recount as figures_recount  # noqa: E402
from reporting_recount import recount  # noqa: E402

pytestmark = pytest.mark.integration
FAR = date(2031, 1, 1)


async def publish(nats: NatsConnection, root: str, envelopes) -> None:
    for env in envelopes:
        headers, body = env.to_nats()
        await nats.js.publish(event_subject(env, root), body, headers=headers)




async def figures(engine, as_of: date, flt: dict) -> dict:
    async with engine.connect() as conn:
        gen = await queries.current_generation(conn)
        values = await queries.indicators(conn, gen, as_of, Filters(**flt))
        # issue 12's figures: CNR funds, the centres sociaux' rencontres, the questionnaire
        values["_funds"] = await asked.funds(conn, gen, as_of, Filters(**flt))
        values["_rencontres"] = await asked.rencontres(conn, gen, as_of, Filters(**flt))
        values["_questionnaire"] = await asked.questionnaire(conn, gen, as_of, Filters(**flt))
    return values


async def assert_erased(engine, events, stage: str) -> None:
    """Issue 16: no text column of any table holds an erased referent's name, e-mail or phone, and
    her timeline lines read « personne effacée » (the others still name their referent)."""
    erased = {e.data["person_id"] for e in events if e.type == "PersonErased"}
    designated = [e for e in events if e.type == "ReferentDesignated"]
    values = [v for e in designated if e.data["referent_id"] in erased
              for v in (e.data["name"], e.data["email"], e.data["phone"]) if v]
    assert erased and values, "the history erases someone"
    assert await texts_holding(engine, values) == [], stage
    async with engine.connect() as conn:
        gen = await queries.current_generation(conn)
        for e in designated:
            entries = await queries.timeline(conn, gen, ["partnership:" + e.data["partnership_id"]], FAR)
            summary = next(x["summary"] for x in entries if x["event_id"] == str(e.id))
            assert summary.endswith(f" : {ERASED}") == (e.data["referent_id"] in erased), (stage, summary)


def expected(events, as_of: date, flt: dict) -> dict:
    events = [e for e in events if e.type != "PersonErased"]  # an erasure changes no figure
    want = recount(events, as_of, flt)
    want.pop("_by_month")
    want["_funds"] = figures_recount.funds(events, as_of, flt)
    want["_rencontres"] = figures_recount.rencontres(events, as_of, flt)
    want["_questionnaire"] = figures_recount.questionnaire(events, as_of, flt)
    return want


@pytest.fixture
async def running(postgres_url, nats_url, subject_root):
    settings = ServiceSettings.from_env("reporting", env={}, database_url=postgres_url, nats_url=nats_url,
                                        subject_root=subject_root)
    runtime = build_runtime(settings)
    await runtime.start()
    publisher = NatsConnection(nats_url, name="test-publisher")
    await publisher.start()
    assert await publisher.wait_connected(10), "NATS not reachable"
    await provision_now(publisher, subject_root, SOURCES)
    yield runtime, publisher
    await publisher.close()
    await runtime.stop()


async def test_live_consumers_on_nats_and_postgres_match_the_recount_and_a_rebuild_from_jetstream_equals_live(
        running, subject_root) -> None:
    runtime, publisher = running
    engine = runtime.engine
    rng = random.Random(20251)
    events = history(rng, campaigns=3, candidatures=25, erasures=True)
    await publish(publisher, subject_root, events)
    await wait_applied(engine, len(events))
    checks = [(FAR, {}), (FAR, {"academie": "paris"}), (date(2025, 11, 1), {}), (date(2026, 6, 15), {"ep": "REP"})]
    for as_of, flt in checks:
        assert await figures(engine, as_of, flt) == expected(events, as_of, flt), (as_of, flt)
    await assert_erased(engine, events, "live")

    # More events arrive while the rebuild replays: the swap's final catch-up must take them.
    later = history(random.Random(7), campaigns=1, candidatures=4, start_year=2026, prefix="late")
    answers: list[dict] = []
    stop = asyncio.Event()

    async def keep_querying() -> None:
        while not stop.is_set():
            answers.append(await figures(engine, FAR, {"academie": "paris"}))
            await asyncio.sleep(0.01)  # deliberate pacing of the query loop, not a wait

    async def publish_late() -> None:
        await publish(publisher, subject_root, later)

    reader = asyncio.create_task(keep_querying())
    log = JetStreamLog(publisher.js, subject_root, SOURCES)
    report = await rebuild(engine, log, batch_size=50, grace_seconds=0.5, before_swap=publish_late)
    stop.set()
    await reader
    assert report["generation"] == 2
    assert answers, "queries were answered during the rebuild"
    everything = events + later
    await wait_applied(engine, len(everything))
    for as_of, flt in checks:
        assert await figures(engine, as_of, flt) == expected(everything, as_of, flt), (as_of, flt)
    await assert_erased(engine, everything, "rebuilt")


async def test_the_rebuild_command_replays_jetstream_and_swaps_in_the_same_figures(
        running, subject_root, postgres_url, nats_url) -> None:
    import os
    import subprocess

    runtime, publisher = running
    events = history(random.Random(99), campaigns=2, candidatures=10)
    await publish(publisher, subject_root, events)
    await wait_applied(runtime.engine, len(events))
    before = await figures(runtime.engine, FAR, {})
    env = {**os.environ, "REPORTING_DATABASE_URL": postgres_url, "NATS_URL": nats_url,
           "NATS_SUBJECT_ROOT": subject_root, "LOG_LEVEL": "WARNING"}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "reporting", "rebuild"], env=env,
                                   capture_output=True, text=True, timeout=120,
                                   cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"generation": 2' in done.stdout and f'"events": {len(events)}' in done.stdout
    assert await figures(runtime.engine, FAR, {}) == before == expected(events, FAR, {})
