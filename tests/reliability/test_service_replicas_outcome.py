"""Two replicas of every service give one replica's outcome, conflicts included.

The same scripted commands run twice, each time on fresh databases and streams: once against one
process of each service, once against two (``tests/e2e/harness.py``, the compose commands).
Commands alternate between candidatures' replicas, and pairs of conflicting commands — the same
submission pinned to one version (``If-Match``) — are sent at once, one to each replica: exactly
one is accepted, the other answered 409, in both runs. After quiescence the two runs agree on
each service's events per stream (types in version order), reporting's figures and the reminders
notifications planned (rule and due time).

Notifications' settings are written through its replicas in turn before the campaigns (a rule
override through one, a contact through the other), so the reminders compared are planned with
them. Every other campaign is closed and its candidature reviewed and attributed; programmes' year is
then driven through its two replicas in turn (referents, convention signatures), and the same
action, pinned to one version, is scheduled through both at once (one accepted, one 409).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from eventkit.bus import NatsConnection
from tests.e2e.harness import SERVICES, running_system
from tests.reliability.test_service_replicas import (
    ACADEMIE, Load, campaign_body, draft_body, offer_body, pending_reminders, rows, settle)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

CAMPAIGNS = 6


def without_moment(value: Any) -> Any:
    """Figures without ``as_of`` (the moment they were read)."""
    if isinstance(value, dict):
        return {k: without_moment(v) for k, v in value.items() if k != "as_of"}
    if isinstance(value, list):
        return [without_moment(v) for v in value]
    return value


async def settle_notifications(load: Load, client: httpx.AsyncClient, replicas: list) -> None:
    """The académie's settings, written through notifications' replicas in turn (the last one's
    override, the first one's contact): whichever replica's consumer plans, it plans with them."""
    admin = {**load.system.token("admin", "*")}
    answer = await client.put(f"{replicas[-1].url}/admin/rules/{ACADEMIE}/culture/campaign_deadline_j_minus_7",
                              json={"offset_days": -10}, headers=admin)
    assert answer.status_code == 200, answer.text
    answer = await client.put(f"{replicas[0].url}/admin/contacts/{ACADEMIE}/academie",
                              json={"name": "DAAC de Paris", "email": "daac@ac-paris.example"}, headers=admin)
    assert answer.status_code == 200, answer.text


async def play(load: Load, client: httpx.AsyncClient, replicas: list, programmes: list) -> Counter:
    """The script; returns the statuses of the conflicting pairs."""
    conflicts: Counter = Counter()
    for n in range(CAMPAIGNS):
        at = replicas[n % len(replicas)]
        other = replicas[(n + 1) % len(replicas)]
        year = 2030 + n
        campaign, offer, candidature = f"camp-outcome-{n}", f"offre-outcome-{n}", f"cand-outcome-{n}"
        await load.post(client, at, "/campaigns", "academie", campaign_body(campaign, year))
        await load.post(client, other, f"/campaigns/{campaign}/offers", "partner", offer_body(offer))
        draft = await load.post(client, at, f"/campaigns/{campaign}/drafts", "school", draft_body(candidature, offer))
        # the same submission, pinned to the draft's version, to both replicas at once
        pinned = {**load.headers["school"], "If-Match": f'"{draft["version"]}"'}
        answers = await asyncio.gather(*(client.post(f"{r.url}/candidatures/{candidature}/submit", headers=pinned)
                                         for r in (at, other)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([200, 409], [201, 409]), [a.text for a in answers]
        conflicts.update(statuses)
        if n % 2 == 0:
            await load.post(client, other, f"/campaigns/{campaign}/close", "academie")
            await load.post(client, at, f"/candidatures/{candidature}/reviews", "academie",
                            {"avis": "favourable", "comment": "Projet solide"})
            attributed = await load.post(client, other, f"/candidatures/{candidature}/attribute", "academie")
            await programme(load, client, programmes, attributed["partnership_id"], year, conflicts)
    return conflicts


async def programme(load: Load, client: httpx.AsyncClient, replicas: list, pid: str, year: int,
                    conflicts: Counter) -> None:
    """The partnership's year through programmes' replicas in turn, with one pinned pair."""
    first, second = replicas[0], replicas[-1]

    async def opened() -> bool:
        answer = await client.get(f"{second.url}/partnerships/{pid}", headers=load.headers["school"])
        return answer.status_code == 200

    await eventually(opened, timeout=60, what=f"programmes opening {pid}")
    P = f"/partnerships/{pid}"
    await load.post(client, first, f"{P}/referents", "school", {
        "referent_id": "ref-ecole", "side": "school", "role": "teacher", "name": "Claire Martin",
        "email": "claire.martin@ac-paris.fr"})
    await load.post(client, second, f"{P}/referents", "partner", {
        "referent_id": "ref-musee", "side": "partner", "role": "coordinator", "name": "Paul Durand",
        "email": "paul.durand@musee.example.org"})
    await load.post(client, first, f"{P}/convention/signatures", "school", {"side": "school", "signed_by": "La directrice"})
    signed = await load.post(client, second, f"{P}/convention/signatures", "partner",
                             {"side": "partner", "signed_by": "Le directeur"})
    pinned = {**load.headers["school"], "If-Match": f'"{signed["version"]}"'}
    action = {"action_id": "visite", "kind": "visit", "title": "Visite des collections", "class_ids": ["cm1"],
              "starts_at": f"{year}-11-10T09:00:00+00:00", "duration_minutes": 120, "place": "Musée"}
    answers = await asyncio.gather(*(client.post(f"{r.url}{P}/actions", json=action, headers=pinned)
                                     for r in (first, second)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses in ([200, 409], [201, 409]), [a.text for a in answers]
    conflicts.update(statuses)


async def outcome(system, nats: NatsConnection, root: str, load: Load, client: httpx.AsyncClient) -> dict:
    await settle(system, nats, root)
    streams = {}
    for name in SERVICES:
        found: dict[str, list[str]] = {}
        for stream_id, kind in await rows(system.database_urls[name],
                                          "select stream_id, type from events order by stream_id, stream_version"):
            found.setdefault(stream_id, []).append(kind)
        streams[name] = found
    figures = {}
    for replica in system.replicas["reporting"]:
        for path in ("/academies/paris/campaigns", "/indicators?academie=paris"):
            answer = await client.get(f"{replica.url}{path}", headers=load.headers["academie"])
            assert answer.status_code == 200, answer.text
            figures.setdefault(path, []).append(without_moment(answer.json()))
    assert all(len({repr(v) for v in answers}) == 1 for answers in figures.values()), \
        "the reporting replicas answer differently"
    # reminders due at once (on attribution) are named after the event that caused them, new in
    # each run, and the mailer is still at them (no mail server here: tried, failed, retried), which
    # quiescence of the bus does not wait for: the comparison keeps the reminders due later
    soon = datetime.now(timezone.utc) + timedelta(days=1)
    now_due = {f"reminder-{rid}" for rid, due in await rows(system.database_urls["notifications"],
                                                            "select reminder_id, due_at from notif_timers")
               if due <= soon}
    streams["notifications"] = {k: v for k, v in streams["notifications"].items() if k not in now_due}
    reminders = sorted((rule, due) for _, rule, due in await pending_reminders(system) if due > soon)
    return {"streams": streams, "figures": {k: v[0] for k, v in figures.items()}, "reminders": reminders}


async def test_commands_through_both_replicas_with_conflicts_give_one_replicas_outcome(
        nats_url, postgres_server_url, tmp_path):
    results = {}
    for replicas in (1, 2):
        root = f"t{uuid.uuid4().hex[:12]}"  # own streams for each run
        (tmp_path / f"r{replicas}").mkdir()
        nats = NatsConnection(nats_url, name="test-observer")
        await nats.start()
        try:
            async with running_system(postgres_server_url, nats_url, root, tmp_path / f"r{replicas}",
                                      replicas=replicas) as system:
                load = Load(system)
                async with httpx.AsyncClient(timeout=30) as client:
                    await settle_notifications(load, client, system.replicas["notifications"])
                    conflicts = await play(load, client, system.replicas["candidatures"], system.replicas["programmes"])
                    assert conflicts[409] == CAMPAIGNS + len(range(0, CAMPAIGNS, 2)), conflicts
                    results[replicas] = await outcome(system, nats, root, load, client)
        finally:
            await nats.close()
    one, two = results[1], results[2]
    assert one["streams"]["candidatures"], "nothing stored"
    assert one["reminders"], "no reminder planned to compare"
    # the override written through one replica is what every plan used: J-10, no J-7
    dues = {(rule, due.date().isoformat()) for rule, due in two["reminders"]}
    assert ("campaign_deadline_j_minus_7", "2031-05-21") in dues, sorted(dues)
    for name in SERVICES:
        differing = {k: (one["streams"][name].get(k), two["streams"][name].get(k))
                     for k in set(one["streams"][name]) | set(two["streams"][name])
                     if one["streams"][name].get(k) != two["streams"][name].get(k)}
        assert not differing, f"{name}: streams of the one-replica run vs the two-replica run: {differing}"
    assert two["figures"] == one["figures"]
    assert two["reminders"] == one["reminders"]
