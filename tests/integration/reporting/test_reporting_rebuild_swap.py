"""The rebuild against live consumers on real NATS and PostgreSQL: it leaves no consumer of its own
on the streams, and the live consumers — fetched batches and single events — never fail on the
old generation's tables while generations are swapped and dropped under them."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from jumelage_contracts.subjects import event_subject, stream_name

from eventkit.bus import NatsConnection, provision_now
from eventkit.settings import ServiceSettings
from reporting.adapters import queries
from reporting.adapters.jetstream import JetStreamLog
from reporting.adapters.queries import Filters
from reporting.app.rebuild import rebuild
from reporting.bootstrap import SOURCES, build_runtime, consumer_name
from reporting.sample import history
from tests.integration.reporting.reporting_support import wait_applied

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "reporting"))
from reporting_recount import recount  # noqa: E402

pytestmark = pytest.mark.integration
FAR = date(2031, 1, 1)
ROOT_DIR = Path(__file__).resolve().parents[3]


async def publish(nats: NatsConnection, root: str, envelopes) -> None:
    for env in envelopes:
        headers, body = env.to_nats()
        await nats.js.publish(event_subject(env, root), body, headers=headers)


async def consumers_on_the_streams(nats: NatsConnection, root: str) -> set[str]:
    names = set()
    for source in SOURCES:
        names |= {info.name for info in await nats.js.consumers_info(stream_name(source, root))}
    return names


def failures_of(runtime) -> list[str]:
    """Wrap every consumer's handlers to record what they raise (and raise it on)."""
    seen: list[str] = []
    for spec in runtime.consumers:
        def wrap(call, path):
            async def recorded(*args):
                try:
                    return await call(*args)
                except Exception as exc:
                    seen.append(f"{path}: {exc!r}"[:500])
                    raise
            return recorded
        spec.handler = wrap(spec.handler, f"{spec.name} one event")
        spec.batch_handler = wrap(spec.batch_handler, f"{spec.name} batch")
    return seen


@pytest.fixture
async def running(postgres_url, nats_url, subject_root):
    settings = ServiceSettings.from_env("reporting", env={}, database_url=postgres_url, nats_url=nats_url,
                                        subject_root=subject_root)
    runtime = build_runtime(settings)
    failures = failures_of(runtime)
    await runtime.start()
    publisher = NatsConnection(nats_url, name="test-publisher")
    await publisher.start()
    assert await publisher.wait_connected(10), "NATS not reachable"
    await provision_now(publisher, subject_root, SOURCES)
    yield runtime, publisher, failures
    await publisher.close()
    await runtime.stop()


async def test_rebuilds_swapping_under_live_batches_and_single_events_fail_nothing_and_leave_no_consumer(
        running, subject_root) -> None:
    runtime, publisher, failures = running
    engine = runtime.engine
    events = history(random.Random(515), campaigns=2, candidatures=12)
    await publish(publisher, subject_root, events)
    await wait_applied(engine, len(events))
    durables = {consumer_name(s) for s in SOURCES}
    assert await consumers_on_the_streams(publisher, subject_root) == durables

    # Live events keep coming, in bursts (batches) and one at a time, through two rebuilds.
    later = history(random.Random(516), campaigns=1, candidatures=10, start_year=2026, prefix="live")
    done = asyncio.Event()

    async def keep_publishing() -> None:
        rng = random.Random(3)
        start = 0
        while start < len(later):
            step = rng.choice([1, 1, 5, 30])
            await publish(publisher, subject_root, later[start:start + step])
            start += step
            await asyncio.sleep(rng.choice([0.0, 0.02, 0.1]))  # deliberate: random pacing across the swap
        done.set()

    publishing = asyncio.create_task(keep_publishing())
    log = JetStreamLog(publisher.js, subject_root, SOURCES)
    first = await rebuild(engine, log, batch_size=40, grace_seconds=0.2)
    second = await rebuild(engine, log, batch_size=40, grace_seconds=0.2)
    await publishing
    assert (first["generation"], second["generation"]) == (2, 3)
    # after the swaps and drops, single events reach consumers whose guess is an old generation
    tail = history(random.Random(517), campaigns=1, candidatures=2, start_year=2027, prefix="tail")
    for env in tail:
        await publish(publisher, subject_root, [env])
        await asyncio.sleep(0.05)  # deliberate pacing: each event reaches the consumers on its own
    everything = events + later + tail
    await wait_applied(engine, len(everything), timeout=60)

    assert failures == [], "a live handler failed during or after a swap"
    assert await consumers_on_the_streams(publisher, subject_root) == durables, "the rebuild left consumers"
    async with engine.connect() as conn:
        values = await queries.indicators(conn, await queries.current_generation(conn), FAR, Filters())
    want = recount(everything, FAR, {})
    want.pop("_by_month")
    assert values == want


async def test_the_rebuild_command_leaves_only_the_durable_consumers(running, subject_root, postgres_url,
                                                                     nats_url) -> None:
    runtime, publisher, _ = running
    events = history(random.Random(77), campaigns=1, candidatures=5)
    await publish(publisher, subject_root, events)
    await wait_applied(runtime.engine, len(events))
    env = {**os.environ, "REPORTING_DATABASE_URL": postgres_url, "NATS_URL": nats_url,
           "NATS_SUBJECT_ROOT": subject_root, "LOG_LEVEL": "WARNING"}
    out = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "reporting", "rebuild"], env=env,
                                  capture_output=True, text=True, timeout=120, cwd=ROOT_DIR)
    assert out.returncode == 0, out.stderr[-3000:]
    assert await consumers_on_the_streams(publisher, subject_root) == {consumer_name(s) for s in SOURCES}
