"""A consumer process killed (SIGKILL) at the worst moments never applies an effect before its cause.

JetStream gives a dead consumer's unacknowledged batch back only after ``ack_wait``; a restarted
process that simply fetched again would get the later events first. The kit keeps the
consumer's position in its own database, committed with the effects, and resumes delivery from
there. Real processes (``tests/reliability/consumer_crash_child.py``), real NATS and PostgreSQL:
the child is killed with a batch in hand and nothing committed, and right after a commit before
its acks, while the producer keeps publishing ``CampaignOpened`` (cause) then, a few events
later, ``CampaignClosed`` (effect) of the same campaign — so cause and effect land in different
batches.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from eventkit.sql import open_store
from jumelage_contracts import to_envelope
from jumelage_contracts.candidatures import CampaignClosed, CampaignOpened
from tests.integration.eventkit.bus_support import connected, eventually, publish_envelopes
from tests.reliability.consumer_crash_child import CONSUMER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "contracts/jumelage_contracts/examples/CampaignOpened.v1.json").read_text())
CAMPAIGNS = 120
LAG = 7  # a campaign is closed this many campaigns after it was opened
# fetched: a batch in hand, nothing committed; committed: committed, no ack sent
KILLS = ["fetched:2", "committed:3", "fetched:4", "committed:1", "fetched:1", "fetched:3"]


def _envelope(event):
    return to_envelope(event, stream_id=f"campaign-{event.campaign_id}", occurred_at=datetime.now(timezone.utc),
                       correlation_id=uuid.uuid4(), academie="paris")


def opened(i: int):
    return _envelope(CampaignOpened.model_validate({**EXAMPLE, "campaign_id": f"c{i}"}))


def closed(i: int):
    return _envelope(CampaignClosed(campaign_id=f"c{i}", academie="paris"))


async def publish_paced(nats, root: str, publish=publish_envelopes) -> None:
    """Opened i, Closed i-LAG, in small bursts: later events keep arriving while children die.
    ``publish(nats, root, envelopes)`` sends a burst (the cluster test's retries through a failover)."""
    pending: list = []
    for i in range(CAMPAIGNS):
        pending.append(opened(i))
        if i >= LAG:
            pending.append(closed(i - LAG))
        if len(pending) >= 6:
            await publish(nats, root, pending)
            pending = []
            await asyncio.sleep(0.12)  # deliberate pacing: bursts keep arriving while children die
    pending += [closed(i) for i in range(max(0, CAMPAIGNS - LAG), CAMPAIGNS)]
    await publish(nats, root, pending)


async def start_child(env: dict[str, str], kill: str, log: Path) -> asyncio.subprocess.Process:
    with open(log, "ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.reliability.consumer_crash_child", cwd=ROOT,
            env={**os.environ, **env, "CHILD_KILL": kill}, stdout=err, stderr=err)


async def count(store, sql: str, **params) -> int:
    async with store.reader.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def test_a_consumer_killed_holding_a_batch_or_before_its_acks_applies_no_effect_before_its_cause(
        postgres_url, nats_url, subject_root, tmp_path):
    store = await open_store(postgres_url)
    log = tmp_path / "children.log"
    # ack_wait as in production (30 s): a restarted process is back long before JetStream gives
    # the dead one's batch to anyone
    env = {"CHILD_DATABASE_URL": postgres_url, "CHILD_NATS_URL": nats_url, "CHILD_ROOT": subject_root,
           "CHILD_ACK_WAIT": "30"}
    try:
        async with connected(nats_url, subject_root) as nats:
            publisher = asyncio.create_task(publish_paced(nats, subject_root))
            for kill in KILLS:
                child = await start_child(env, kill, log)
                code = await asyncio.wait_for(child.wait(), 90)
                assert code == -signal.SIGKILL, f"child ({kill}) exited {code}: {log.read_text()[-3000:]}"
            await publisher
            final = await start_child(env, "", log)
            try:
                total = 2 * CAMPAIGNS
                # quiescence: every event's inbox row is committed (a consumer that waits for
                # JetStream's redelivery gets there too, after ack_wait)
                await eventually(lambda: _inbox_full(store, total), timeout=150, interval=0.2, what=f"{total} events applied")
            finally:
                final.send_signal(signal.SIGTERM)
                await asyncio.wait_for(final.wait(), 30)
        dropped = await store.stream_version("dropped")
        closed_ = await store.stream_version("closed")
        opened_ = await store.stream_version("opened")
        print(f"opened={opened_} closed={closed_} dropped={dropped}")
        assert (opened_, closed_, dropped) == (CAMPAIGNS, CAMPAIGNS, 0), "an effect was applied before its cause"
    finally:
        await store.close()


async def _inbox_full(store, total: int) -> bool:
    return await count(store, "select count(*) from inbox where consumer = :c", c=CONSUMER) >= total


async def test_two_processes_side_by_side_the_active_one_killed_again_and_again_lose_and_double_nothing(
        postgres_url, nats_url, subject_root, tmp_path):
    """Two workers of one durable at all times (one active, one in standby on the lease); each
    active one is SIGKILLed at a bad moment and replaced by a new process, the standby takes over
    once the lease expires. The outcome equals one process's: every event applied once, no effect
    before its cause."""
    store = await open_store(postgres_url)
    log = tmp_path / "children.log"
    env = {"CHILD_DATABASE_URL": postgres_url, "CHILD_NATS_URL": nats_url, "CHILD_ROOT": subject_root,
           "CHILD_ACK_WAIT": "30", "CHILD_LEASE_TTL": "1.5"}
    try:
        async with connected(nats_url, subject_root) as nats:
            publisher = asyncio.create_task(publish_paced(nats, subject_root))
            pending_kills = list(KILLS)
            alive = {await start_child(env, pending_kills.pop(0), log), await start_child(env, pending_kills.pop(0), log)}
            killed = 0
            while killed < len(KILLS):
                done, _ = await asyncio.wait({asyncio.ensure_future(c.wait()) for c in alive}, timeout=120,
                                             return_when=asyncio.FIRST_COMPLETED)
                assert done, f"no worker died within 120 s: {log.read_text()[-3000:]}"
                for child in [c for c in alive if c.returncode is not None]:
                    assert child.returncode == -signal.SIGKILL, f"a worker exited {child.returncode}: {log.read_text()[-3000:]}"
                    alive.discard(child)
                    killed += 1
                    # a replacement only while kills are left: a worker that never dies could
                    # otherwise take the lease and leave the last killer in standby for ever
                    if pending_kills:
                        alive.add(await start_child(env, pending_kills.pop(0), log))
            await publisher
            alive |= {await start_child(env, "", log), await start_child(env, "", log)}
            try:
                await eventually(lambda: _inbox_full(store, 2 * CAMPAIGNS), timeout=150, interval=0.2,
                                 what=f"{2 * CAMPAIGNS} events applied")
            finally:
                for child in alive:
                    if child.returncode is None:
                        child.send_signal(signal.SIGTERM)
                for child in alive:
                    await asyncio.wait_for(child.wait(), 30)
        dropped = await store.stream_version("dropped")
        closed_ = await store.stream_version("closed")
        opened_ = await store.stream_version("opened")
        print(f"two workers, {killed} killed: opened={opened_} closed={closed_} dropped={dropped}")
        assert (opened_, closed_, dropped) == (CAMPAIGNS, CAMPAIGNS, 0), "an event was lost, doubled or applied early"
    finally:
        await store.close()


def frozen(pid: int) -> bool:
    """The process is stopped (SIGSTOP): state ``T`` in /proc (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


async def test_a_holder_frozen_with_a_batch_in_hand_wakes_after_its_lease_was_taken_and_commits_nothing(
        postgres_url, nats_url, subject_root, tmp_path):
    """Real processes: the active one freezes itself (SIGSTOP) with a fetched batch in hand, nothing
    committed; a second process takes the lease once it runs out and applies everything; then the
    frozen one is woken (SIGCONT). It must find its lease gone and commit nothing of its old batch:
    every event applied once, no effect before its cause, and it stays up, in standby."""
    store = await open_store(postgres_url)
    log = tmp_path / "children.log"
    env = {"CHILD_DATABASE_URL": postgres_url, "CHILD_NATS_URL": nats_url, "CHILD_ROOT": subject_root,
           "CHILD_ACK_WAIT": "30", "CHILD_LEASE_TTL": "1.5"}
    children = []
    try:
        async with connected(nats_url, subject_root) as nats:
            publisher = asyncio.create_task(publish_paced(nats, subject_root))
            sleeper = await start_child(env, "fetched:3:stop", log)
            children.append(sleeper)
            await eventually(lambda: frozen(sleeper.pid), timeout=60, interval=0.1,
                             what="the holder frozen with a batch in hand")
            taker = await start_child(env, "", log)
            children.append(taker)
            await publisher
            await eventually(lambda: _inbox_full(store, 2 * CAMPAIGNS), timeout=150, interval=0.2,
                             what=f"{2 * CAMPAIGNS} events applied by the taker")
            applied_before = await count(store, "select count(*) from events")
            os.kill(sleeper.pid, signal.SIGCONT)
            # it wakes with its old batch: its renewal or its commit's fence finds the lease taken
            await eventually(lambda: f":{sleeper.pid}:" in _lost_lines(log), timeout=60, interval=0.2,
                             what="the woken holder finding its lease lost")
            assert sleeper.returncode is None, f"the woken holder died: {log.read_text()[-3000:]}"
            assert await count(store, "select count(*) from events") == applied_before, \
                "the woken holder committed something after losing its lease"
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                await asyncio.wait_for(child.wait(), 30)
        counts = [await store.stream_version(name) for name in ("opened", "closed", "dropped")]
        assert counts == [CAMPAIGNS, CAMPAIGNS, 0], f"an event was lost, doubled or applied early: {counts}"
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
        await store.close()


def _lost_lines(log: Path) -> str:
    return "\n".join(line for line in log.read_text(errors="replace").splitlines() if "lease_lost" in line)
