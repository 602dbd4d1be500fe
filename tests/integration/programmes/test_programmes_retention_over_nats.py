"""Retention (RGPD, issue 16) end to end on real PostgreSQL and NATS JetStream: programmes as a
process, notifications in process with a manual clock, candidatures' events published as its
relay would. A partnership ends; time passes (notifications' scheduler lives through it, each
timer at its time); its referent is erased by itself and reads « personne effacée »; a referent
shared with a partnership still within its retention — renewed, so its retention was moved a
year later — stays until that one expires too; a replayed expiry erases nobody twice."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import make_engine
from jumelage_contracts import to_envelope
from jumelage_contracts.notifications import RetentionExpired
from jumelage_contracts.personal import ERASED
from notifications.bootstrap import MailSettings, build
from tests.infra.postgres import fresh_database
from tests.integration.notifications.notif_harness import SmtpServer

from programmes_service import (
    ADMIN,
    SCHOOL,
    at,
    attribution,
    eventually,
    nats_for,
    publish,
    renewal_declined,
    renewal_granted,
    running_service,
    set_clock,
)

pytestmark = pytest.mark.integration
UTC = timezone.utc


async def ok(response, status=(200, 201)) -> dict:
    assert response.status_code in status, response.text
    return response.json()


def designation(referent_id: str, name: str) -> dict:
    return {"referent_id": referent_id, "side": "school", "role": "teacher", "name": name,
            "email": f"{referent_id}@ac-paris.fr"}


async def referent_names(programmes, pid: str) -> dict[str, str]:
    """The names programmes' timeline gives every ReferentDesignated of the partnership."""
    timeline = await ok(await programmes.get(f"/partnerships/{pid}/timeline", headers=ADMIN))
    return {e["data"]["referent_id"]: e["data"]["name"] for e in timeline["events"]
            if e["type"] == "ReferentDesignated"}


async def count(url: str, sql: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text(sql)))
    finally:
        await engine.dispose()


async def test_a_partnership_past_its_retention_erases_its_referents_unless_another_partnership_keeps_them(
        postgres_url, postgres_server_url, nats_url, subject_root):
    smtp = SmtpServer().start()
    clock = ManualClock(datetime(2025, 7, 1, tzinfo=UTC))
    async with fresh_database(postgres_server_url) as notifications_db, nats_for(nats_url, subject_root) as nats, \
            running_service(postgres_url, nats_url, subject_root) as programmes:
        settings = ServiceSettings.from_env("notifications", env={}, database_url=notifications_db,
                                            nats_url=nats_url, subject_root=subject_root, clock="manual",
                                            public_url="http://notif.test")
        _, notifications = build(settings, clock=clock, mail=MailSettings(port=smtp.port), scheduler_enabled=False)
        await notifications.start()
        try:
            # Two culture partnerships of 2025-2026. Alice is a referent of the first only; Bruno of both.
            await set_clock(programmes, at(2025, 7, 4))
            for pid in ("p-ended", "p-renewed"):
                await publish(nats, subject_root, attribution(pid))
            for pid in ("p-ended", "p-renewed"):
                await eventually(lambda: _opened(programmes, pid), what=f"programmes opened {pid}")
            await set_clock(programmes, at(2025, 9, 10))
            await ok(await programmes.post("/partnerships/p-ended/referents", headers=SCHOOL,
                                           json=designation("ref-alice", "Alice Moreau")))
            for pid in ("p-ended", "p-renewed"):
                await ok(await programmes.post(f"/partnerships/{pid}/referents", headers=SCHOOL,
                                               json=designation("ref-bruno", "Bruno Petit")))
            # June 2026: the first is not renewed; the second is renewed for 2026-2027, then not again.
            await set_clock(programmes, at(2026, 6, 30))
            await publish(nats, subject_root, renewal_declined("p-ended", 2))
            await publish(nats, subject_root, renewal_granted("p-renewed", 2))
            await eventually(lambda: _year(programmes, "p-renewed", 2), what="programmes opened year 2")
            await set_clock(programmes, at(2027, 6, 30))
            await publish(nats, subject_root, renewal_declined("p-renewed", 3))

            async def timers() -> dict[str, tuple]:
                engine = make_engine(notifications_db)
                try:
                    async with engine.connect() as conn:
                        rows = (await conn.execute(text(
                            "SELECT partnership_id, year_index, due_at, ended_at FROM notif_retention"))).all()
                finally:
                    await engine.dispose()
                return {r.partnership_id: (r.year_index, r.due_at) for r in rows if r.ended_at is not None}

            async def both_ended():
                found = await timers()
                return found if len(found) == 2 else None

            planned = await eventually(both_ended, what="notifications to learn both ends")
            assert planned == {"p-ended": (1, datetime(2029, 8, 31, 22, tzinfo=UTC)),   # 2025-2026 + 3 years
                               "p-renewed": (2, datetime(2030, 8, 31, 22, tzinfo=UTC))}  # the renewal moved it

            # Three years on: the first partnership's retention runs out.
            await notifications.scheduler.run_until(datetime(2029, 9, 1, 6, tzinfo=UTC))

            async def alice_erased():
                return (await referent_names(programmes, "p-ended"))["ref-alice"] == ERASED

            await eventually(alice_erased, what="programmes to erase Alice once p-ended's retention ran out")
            view = await ok(await programmes.get("/partnerships/p-ended", headers=ADMIN))
            shown = {r["referent_id"]: r["name"] for r in view["current_year"]["referents"]}
            assert shown == {"ref-alice": ERASED, "ref-bruno": "Bruno Petit"}  # Bruno: p-renewed still holds him
            assert (await referent_names(programmes, "p-renewed"))["ref-bruno"] == "Bruno Petit"

            # A year later the renewed one expires too, and Bruno goes.
            await notifications.scheduler.run_until(datetime(2030, 9, 1, 6, tzinfo=UTC))

            async def bruno_erased():
                return (await referent_names(programmes, "p-renewed"))["ref-bruno"] == ERASED

            await eventually(bruno_erased, what="programmes to erase Bruno once his last partnership expired")
            assert (await referent_names(programmes, "p-ended")) == {"ref-alice": ERASED, "ref-bruno": ERASED}

            # notifications, told by PersonErased, forgot them too
            async def notifications_forgot():
                return await count(notifications_db, "SELECT count(*) FROM notif_referents "
                                   f"WHERE name <> '{ERASED}'") == 0

            await eventually(notifications_forgot, what="notifications to rewrite its referent rows")

            # The same expiry again under a new id (a replay, a rebuild): nobody is erased twice.
            replayed = to_envelope(RetentionExpired(
                partnership_id="p-ended", dispositif="culture", school_year="2025-2026", year_index=1,
                retained_from=datetime(2026, 8, 31, 22, tzinfo=UTC), retention_years=3,
                due_at=datetime(2029, 8, 31, 22, tzinfo=UTC), expired_at=datetime(2030, 9, 2, tzinfo=UTC)),
                stream_id="retention-p-ended", occurred_at=datetime.now(UTC), correlation_id=uuid.uuid4(),
                academie="paris")
            await publish(nats, subject_root, replayed)

            async def replay_applied():
                return await count(postgres_url, "SELECT count(*) FROM inbox "
                                   f"WHERE event_id = '{replayed.id}'") == 1

            await eventually(replay_applied, what="programmes to consume the replayed expiry")
            assert await count(postgres_url, "SELECT count(*) FROM events WHERE type = 'PersonErased'") == 2
            assert await count(notifications_db, "SELECT count(*) FROM events WHERE type = 'RetentionExpired'") == 2
        finally:
            await notifications.stop()
            smtp.stop()


async def _opened(programmes, pid: str) -> bool:
    return (await programmes.get(f"/partnerships/{pid}", headers=ADMIN)).status_code == 200


async def _year(programmes, pid: str, index: int) -> bool:
    r = await programmes.get(f"/partnerships/{pid}", headers=ADMIN)
    return r.status_code == 200 and r.json()["current_year"]["year_index"] == index
