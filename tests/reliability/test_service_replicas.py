"""Two replicas of every service side by side on a real three-node NATS cluster (streams R3) and
PostgreSQL: each service's two processes (started with the commands docker-compose.yml names,
``tests/e2e/harness.py``) share its database and listen on their own ports.

A steady command load goes through both candidatures replicas' HTTP, alternately (campaigns
opened, offers published, candidatures drafted and submitted, some campaigns closed: reporting
counts them, notifications plans and cancels reminders, programmes reads them), with reads of
reporting and notifications through both of theirs. Mid-run one replica of each service is
SIGKILLed: the one holding the store's relay lease (``relay:<source>``), so the other must take
the relay over, and in reporting (no relay: nothing it publishes) the one holding a consumer
lease. The load then goes on through the survivors.

After quiescence — every stored event published, every durable with nothing pending: each
service's stream holds every event of its store once, in position order (0 lost, per-stream order
kept: each aggregate's versions in order); reporting's counts are exact (0 applied twice) and its
read models equal a rebuild (``python -m reporting rebuild`` swapped in while the survivors run);
notifications' pending reminders equal what ``python -m notifications rebuild`` plans, which finds
nothing to repair. What one replica would have produced, in short.

Relay failover is measured and printed (``-s``): from the SIGKILL of the relay lease holder until
the stream holds an event appended after the kill (the other replica took the lease — its TTL,
10 s by default, bounds the wait — and published).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from eventkit.bus import NatsConnection
from jumelage_contracts import Header
from jumelage_contracts.subjects import stream_name
from notifications.app.rebuild import pending_timers
from tests.e2e.harness import ROOT, SERVICES, RunningService, System, running_system
from tests.integration.eventkit.bus_support import stream_messages
from tests.waiting import while_progressing

pytestmark = pytest.mark.integration

ROUNDS = 24  # rounds of commands; each opens a campaign (its own school year) with an offer and drafts
KILL_AT = 8  # the round before which one replica of each service is killed
ACADEMIE, UAI, PARTNER = "paris", "0750655E", "musee-replicas"
# the longest the system may rightly stand still: a relay lease expiring (10 s), a consumer lease
# (its TTL) and a durable handed over, a client noticing a dead connection — on a loaded machine
STALL = 60.0
# the services whose stores get events after the kill, from the load: their relay failover is timed
# (programmes publishes nothing here: its relay has nothing to hand over)
PUBLISHING = ("candidatures", "notifications")


def driver_url(database_url: str) -> str:
    return database_url.replace("postgresql://", "postgresql+asyncpg://", 1)


def campaign_body(campaign: str, year: int) -> dict:
    """A culture campaign of the school year starting in ``year``."""
    return {
        "campaign_id": campaign, "academie": ACADEMIE, "dispositif": "culture",
        "school_year": f"{year}-{year + 1}", "title": f"Jumelages culture {year}-{year + 1}",
        "calendar": {"submission_deadline": f"{year}-05-31T21:59:00Z", "attribution_date": f"{year}-07-02",
                     "work_meeting_window": {"start": f"{year}-09-13", "end": f"{year}-10-15"},
                     "bilan_window": {"start": f"{year + 1}-05-09", "end": f"{year + 1}-06-16"},
                     "renewal_deadline": f"{year + 1}-06-23T21:59:00Z"}}


def offer_body(offer: str) -> dict:
    return {
        "offer_id": offer, "title": "Le musée en classe",
        "partner": {"partner_id": PARTNER, "kind": "cultural_structure", "name": "Musée des replicas",
                    "address": "23 rue de Sévigné", "commune": "Paris", "postcode": "75003"},
        "resources": [{"kind": "workshop", "description": "Ateliers au musée"}],
        "eac_domains": [], "levels": ["CM1", "CM2"], "capacity_classes": 4}


def draft_body(candidature: str, offer: str) -> dict:
    """A school's draft candidature for ``offer``, one class."""
    return {
        "candidature_id": candidature, "offer_id": offer, "tier": "approfondir",
        "school": {"uai": UAI, "name": "École élémentaire Belleville", "academie": ACADEMIE,
                   "departement": "75", "education_prioritaire": "REP+"},
        "school_objective": "Ouvrir l'école sur le musée du quartier",
        "classes": [{"class_id": "cm1", "label": "CM1 A", "level": "CM1", "pupils": 24,
                     "objective": "Découvrir les collections"}],
        "wishes": {"staff": True, "families": True}}


class Load:
    """The commands of one round through a given replica; what was done, to check the counts."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.opened: list[str] = []
        self.submitted: list[str] = []
        self.closed: list[str] = []
        self.headers = {who: system.token(who, scope)
                        for who, scope in (("academie", ACADEMIE), ("school", UAI), ("partner", PARTNER))}

    async def post(self, client: httpx.AsyncClient, replica: RunningService, path: str, who: str,
                   body: dict | None = None) -> dict:
        answer = await client.post(f"{replica.url}{path}", json=body, headers=self.headers[who])
        assert answer.status_code in (200, 201), f"{replica.name} {path}: {answer.status_code} {answer.text}"
        return answer.json()

    async def round(self, client: httpx.AsyncClient, n: int, replica: RunningService) -> None:
        year, tag = 2027 + n, uuid.uuid4().hex[:6]
        campaign, offer = f"camp-replicas-{n}-{tag}", f"offre-replicas-{n}-{tag}"
        await self.post(client, replica, "/campaigns", "academie", campaign_body(campaign, year))
        self.opened.append(campaign)
        await self.post(client, replica, f"/campaigns/{campaign}/offers", "partner", offer_body(offer))
        candidature = f"cand-replicas-{n}-{tag}"
        await self.post(client, replica, f"/campaigns/{campaign}/drafts", "school", draft_body(candidature, offer))
        if n % 2 == 0:  # submitted: its draft reminders are cancelled
            await self.post(client, replica, f"/candidatures/{candidature}/submit", "school")
            self.submitted.append(candidature)
        if n % 3 == 0:  # closed: its deadline reminders are cancelled
            await self.post(client, replica, f"/campaigns/{campaign}/close", "academie")
            self.closed.append(campaign)

    async def read(self, client: httpx.AsyncClient, replica: RunningService) -> None:
        """A read through a replica of reporting or notifications: any replica answers."""
        path = "/academies/paris/campaigns" if replica.name.startswith("reporting") else "/reminders"
        answer = await client.get(f"{replica.url}{path}", headers=self.headers["academie"])
        assert answer.status_code == 200, f"{replica.name} {path}: {answer.status_code} {answer.text}"


async def scalar(database_url: str, sql: str, **params: Any) -> Any:
    engine = create_async_engine(driver_url(database_url))
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql), params)
    finally:
        await engine.dispose()


async def rows(database_url: str, sql: str, **params: Any) -> list[tuple]:
    engine = create_async_engine(driver_url(database_url))
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]
    finally:
        await engine.dispose()


async def lease_holder(system: System, name: str, lease: str) -> RunningService | None:
    """The replica holding ``lease`` in the service's store (holder ``host:pid:nonce``)."""
    holder = await scalar(system.database_urls[name], "select holder from leases where name like :n order by name",
                          n=lease)
    pid = int(holder.split(":")[1]) if holder else None
    return next((r for r in system.replicas[name] if r.process.pid == pid and r.process.poll() is None), None)


async def victim_of(system: System, name: str) -> tuple[RunningService, str]:
    """The replica to kill: the relay lease's holder, or (a service that publishes nothing) a
    consumer lease's."""
    for lease in (f"relay:{name}", "consumer:%"):
        holder = await lease_holder(system, name, lease)
        if holder is not None:
            return holder, lease
    raise AssertionError(f"no replica of {name} holds a lease")


async def published(nats: NatsConnection, name: str, root: str) -> int:
    try:
        return (await nats.js.stream_info(stream_name(name, root))).state.messages
    except Exception:  # noqa: BLE001 - the stream has no leader for a moment: not yet
        return -1


async def stored(system: System, name: str) -> int:
    return await scalar(system.database_urls[name], "select count(*) from events")


async def pending_deliveries(nats: NatsConnection, root: str) -> int:
    """Messages every durable of the services' streams has not yet had acknowledged."""
    total = 0
    for name in SERVICES:
        try:
            for info in await nats.js.consumers_info(stream_name(name, root)):
                total += info.num_pending + info.num_ack_pending
        except Exception:  # noqa: BLE001 - the stream is being elected: count it as not settled
            return -1
    return total


class Failover:
    """From a relay holder's SIGKILL until the other replica holds the relay lease, and until the
    stream holds an event appended after the kill."""

    def __init__(self, system: System, name: str, victim: RunningService, stored_at_kill: int) -> None:
        self.system, self.name, self.victim, self.stored_at_kill = system, name, victim, stored_at_kill
        self.killed_at = time.monotonic()
        self.taken_after: float | None = None
        self.published_after: float | None = None

    async def watch(self, nats: NatsConnection, root: str) -> None:
        while self.taken_after is None or self.published_after is None:
            now = time.monotonic() - self.killed_at
            if self.taken_after is None and await lease_holder(self.system, self.name, f"relay:{self.name}") \
                    not in (None, self.victim):
                self.taken_after = now
            # the stream holds the store's events once each, in position order (checked at the
            # end): more messages than events stored at the kill means one appended after it
            if self.published_after is None and await published(nats, self.name, root) > self.stored_at_kill:
                self.published_after = now
            await asyncio.sleep(0.05)


async def settle(system: System, nats: NatsConnection, root: str) -> None:
    """Wait until every event of every service is published and applied, for as long as the counts
    move (a failover in progress), failing after ``STALL`` seconds without progress."""

    async def counts() -> tuple:
        return (tuple([await published(nats, name, root) for name in SERVICES]),
                tuple([await stored(system, name) for name in SERVICES]))

    async def quiet() -> bool:
        # nothing pending means every delivered event's effects are committed (a consumer commits,
        # then acks); then every stored event published; then still nothing pending and nothing new
        # stored: what was just published was applied too
        if await pending_deliveries(nats, root) != 0:
            return False
        first = await counts()
        if first[0] != first[1]:
            return False
        return await pending_deliveries(nats, root) == 0 and await counts() == first

    async def progress() -> tuple:
        return *await counts(), await pending_deliveries(nats, root)

    await while_progressing(quiet, progress, stall=STALL, what="every event published and applied")


async def run_command(module: str, command: str, env: dict[str, str]) -> dict:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, command, cwd=ROOT,
                                                env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"{module} {command}: {err.decode()[-3000:]}"
    # the log lines come first on stdout (one JSON object a line), then the report, indented
    text_out = out.decode()
    start = text_out.index("{\n") if "{\n" in text_out else text_out.rindex("\n{") + 1
    return json.JSONDecoder().raw_decode(text_out[start:])[0]


async def reporting_figures(client: httpx.AsyncClient, replica: RunningService, load: Load) -> dict:
    figures = {}
    for path in ("/academies/paris/campaigns", "/indicators?academie=paris",
                 *(f"/indicators?academie=paris&school_year={2027 + n}-{2028 + n}" for n in range(0, ROUNDS, 5))):
        answer = await client.get(f"{replica.url}{path}", headers=load.headers["academie"])
        assert answer.status_code == 200, f"{path}: {answer.text}"
        figures[path] = answer.json()
    return figures


async def pending_reminders(system: System) -> set[tuple]:
    engine = create_async_engine(driver_url(system.database_urls["notifications"]))
    try:
        async with engine.connect() as conn:
            return await pending_timers(conn)
    finally:
        await engine.dispose()


async def test_two_replicas_of_every_service_on_the_cluster_one_of_each_killed_mid_run_give_one_replicas_outcome(
        nats_cluster, postgres_server_url, subject_root, tmp_path):
    cluster_env = {"NATS_STREAM_REPLICAS": "3"}
    nats = NatsConnection(nats_cluster.url, name="test-observer", reconnect_wait=0.1)
    await nats.start()
    assert await nats.wait_connected(10)
    watchers: list[asyncio.Task] = []
    try:
        async with running_system(postgres_server_url, nats_cluster.url, subject_root, tmp_path, replicas=2,
                                  extra_env={name: cluster_env for name in SERVICES}) as system:
            load = Load(system)
            alive = {name: list(group) for name, group in system.replicas.items()}
            failovers: dict[str, Failover] = {}
            killed: dict[str, tuple[str, str]] = {}
            async with httpx.AsyncClient(timeout=30) as client:
                for n in range(ROUNDS):
                    if n == KILL_AT:
                        for name in SERVICES:
                            victim, lease = await victim_of(system, name)
                            at_kill = await stored(system, name) if lease.startswith("relay:") else 0
                            os.kill(victim.process.pid, signal.SIGKILL)
                            victim.process.wait()
                            alive[name].remove(victim)
                            killed[name] = (victim.name, lease)
                            if name in PUBLISHING:
                                failovers[name] = Failover(system, name, victim, at_kill)
                                watchers.append(asyncio.create_task(failovers[name].watch(nats, subject_root)))
                    await load.round(client, n, alive["candidatures"][n % len(alive["candidatures"])])
                    for name in ("reporting", "notifications"):
                        await load.read(client, alive[name][n % len(alive[name])])

                await settle(system, nats, subject_root)

                # 0 lost, none twice, order kept: each stream holds its store's events in position order
                for name in SERVICES:
                    events = await rows(system.database_urls[name],
                                        "select id from events order by position")
                    messages = await stream_messages(nats, stream_name(name, subject_root), timeout=10)
                    # position order is each aggregate's version order (the store's), so per-stream order
                    assert [m.headers[Header.MSG_ID] for m in messages] == [str(e[0]) for e in events], \
                        f"{name}: the stream must hold every stored event once, in position order"
                # one event per command accepted (an offer, a draft per campaign): none lost, none doubled
                commands = 3 * len(load.opened) + len(load.submitted) + len(load.closed)
                assert await stored(system, "candidatures") == commands
                assert await stored(system, "notifications") > 0, "notifications planned no reminder"

                # reporting applied each event once: its counts are exact, read through either replica
                survivor = alive["reporting"][0]
                live = await reporting_figures(client, survivor, load)
                assert live["/academies/paris/campaigns"]["campaigns_opened"] == len(load.opened)
                assert live["/indicators?academie=paris"]["indicators"]["candidatures_submitted"] == len(load.submitted)
                # its read models equal a rebuild from the streams, swapped in while the survivors run
                report = await run_command("reporting", "rebuild", system.env["reporting"])
                assert report["events"] >= len(load.opened) + len(load.submitted), report
                assert await reporting_figures(client, survivor, load) == live

                # notifications: the pending reminders equal what a rebuild plans (it repairs nothing)
                before = await pending_reminders(system)
                assert before, "no pending reminder to compare"
                rebuilt = await run_command("notifications", "rebuild", system.env["notifications"])
                assert (rebuilt["reminder_events"], rebuilt["calendar_items_changed"]) == (0, 0), rebuilt
                assert await pending_reminders(system) == before

            for watcher in watchers:
                await asyncio.wait_for(watcher, STALL)
        print("\ntwo replicas of every service on the 3-node cluster (R3); killed (-9): "
              + "; ".join(f"{name} {victim} ({lease})" for name, (victim, lease) in killed.items()))
        for name, failover in failovers.items():
            print(f"relay lease failover, {name}: the other replica held the lease {failover.taken_after:.2f} s "
                  f"and published an event appended after the kill {failover.published_after:.2f} s after "
                  f"the holder's SIGKILL" + (" (appended by its consumers, themselves taken over)"
                                             if name == "notifications" else ""))
    finally:
        for watcher in watchers:
            watcher.cancel()
        await nats.close()
