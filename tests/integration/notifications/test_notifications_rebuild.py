"""``python -m notifications rebuild``: after a corrupted state (timers lost, reminders of a
cancelled action pending again), the rebuild restores the pending timers a fresh correct run
has, never sends again what was sent, and leaves the cancelled action cancelled in the feed."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import delete, select, update

from jumelage_contracts import parse_event
from notifications.adapters import db
from notifications.adapters.replay import ListLog
from notifications.app.rebuild import pending_timers, rebuild, sources_of
from tests.integration.notifications.notif_events import example, play_attribution
from tests.integration.notifications.notif_harness import make_harness
from tests.waiting import eventually

UTC = timezone.utc
START = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
END = datetime(2025, 11, 12, tzinfo=UTC)


async def live_year(h) -> None:
    """Attribution, the work meeting, three actions (one rescheduled, one cancelled), with the
    scheduler running: by 12 November some reminders were sent, others are pending."""
    await play_attribution(h)
    await h.move_to(datetime(2025, 9, 10, tzinfo=UTC))
    await h.play(example("MeetingScheduled"))
    await h.move_to(datetime(2025, 10, 1, tzinfo=UTC))
    for i, day in enumerate((18, 20, 25)):
        await h.play(example("ActionScheduled", action_id=f"act-{i}", title=f"Atelier {i}",
                             starts_at=datetime(2025, 11, day, 9, 0, tzinfo=UTC).isoformat()))
    await h.move_to(datetime(2025, 10, 20, tzinfo=UTC))
    await h.play(example("ActionRescheduled", action_id="act-1",
                         starts_at=datetime(2025, 12, 2, 9, 0, tzinfo=UTC).isoformat()))
    await h.play(example("ActionCancelled", action_id="act-2"))
    await h.move_to(END)


async def pending(store) -> set:
    async with store.engine.connect() as conn:
        return await pending_timers(conn)


async def test_a_rebuild_after_a_corrupted_state_restores_the_pending_timers_of_a_fresh_run(pg_harness, smtp, tmp_path) -> None:
    h = pg_harness
    await live_year(h)
    sent_before = len(await h.events("ReminderSent"))
    assert sent_before > 0 and await pending(h.store)

    fresh = await make_harness(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", smtp, START)
    try:  # a correct live run of the same events: each delivered when it happened, time passing between
        for envelope in h.played:
            await fresh.move_to(envelope.occurred_at)
            await fresh.deliver(envelope, parse_event(envelope))
        await fresh.move_to(END)
        expected = await pending(fresh.store)
    finally:
        await fresh.store.close()
    assert await pending(h.store) == expected

    async with h.store.transaction() as tx:  # the defect: timers lost, a cancelled action's reminders back
        await tx.connection.execute(delete(db.timers).where(db.timers.c.status == "pending"))
        await tx.connection.execute(update(db.timers).where(db.timers.c.action_id == "act-2")
                                    .values(status="pending"))
        await tx.connection.execute(update(db.calendar_items).where(db.calendar_items.c.uid.like("action-%act-2@%"))
                                    .values(status="CONFIRMED"))
    assert await pending(h.store) != expected

    report = await rebuild(h.store, ListLog(sources_of(h.played)), h.clock)
    assert report["events"] == len(h.played) and report["reminder_events"] > 0
    assert await pending(h.store) == expected
    async with h.store.engine.connect() as conn:
        statuses = {r.status for r in (await conn.execute(select(db.timers).where(db.timers.c.action_id == "act-2"))).all()}
        feed_status = await conn.scalar(select(db.calendar_items.c.status).where(db.calendar_items.c.uid.like("action-%act-2@%")))
    assert "pending" not in statuses and feed_status == "CANCELLED"

    mails = len(h.mailbox.messages)
    assert await h.scheduler.tick() == 0 and len(h.mailbox.messages) == mails  # nothing sent again
    assert len(await h.events("ReminderSent")) == sent_before
    again = await rebuild(h.store, ListLog(sources_of(h.played)), h.clock)  # a second rebuild changes nothing
    assert again["reminder_events"] == 0 and await pending(h.store) == expected


async def test_a_rebuild_from_jetstream_beside_the_running_service_repairs_it_and_lets_it_go_on(
        postgres_url, nats_url, subject_root, tmp_path, smtp) -> None:
    """The command's path: the source streams replayed from JetStream while the service's own
    consumers keep running on PostgreSQL (the rebuild locks their inbox while it swaps)."""
    from eventkit.bus import NatsConnection, OutboxRelay, provision
    from eventkit.clock import ManualClock
    from eventkit.settings import ServiceSettings
    from eventkit.sql import open_store
    from jumelage_contracts import to_envelope
    from notifications.adapters.replay import JetStreamLog
    from notifications.app.rebuild import SOURCES
    from notifications.bootstrap import MailSettings, build

    stores = {s: await open_store(f"sqlite+aiosqlite:///{tmp_path / (s + '.db')}") for s in SOURCES}
    nats = NatsConnection(nats_url, name="test-producers")
    await nats.start()
    await provision(nats, subject_root)
    relays = {s: OutboxRelay(stores[s], nats, source=s, subject_root=subject_root) for s in SOURCES}
    clock = ManualClock(datetime(2025, 10, 1, tzinfo=UTC))
    settings = ServiceSettings.from_env("notifications", env={}, database_url=postgres_url, nats_url=nats_url,
                                        subject_root=subject_root, clock="manual", public_url="http://notif.test")
    _, service = build(settings, clock=clock, mail=MailSettings(port=smtp.port), scheduler_enabled=False)
    await service.start()

    async def publish(event, stream: str) -> None:
        envelope = to_envelope(event, stream_id=stream, occurred_at=clock.now(), correlation_id=uuid.uuid4(),
                               academie="paris")
        store = stores[envelope.source]
        await store.append(stream, [envelope], await store.stream_version(stream))
        await relays[envelope.source].publish_once()

    async def action_timers() -> dict[str, str]:
        async with service.store.engine.connect() as conn:
            rows = (await conn.execute(select(db.timers).where(db.timers.c.scope == "action"))).all()
        return {f"{r.action_id}:{r.rule}": r.status for r in rows}

    try:
        await publish(example("CampaignOpened"), "campaign-1")
        await publish(example("PartnershipAttributed"), "candidature-1")
        for i in range(3):
            await publish(example("ActionScheduled", action_id=f"act-{i}", title=f"Atelier {i}"), "partnership-1")
        await publish(example("ActionCancelled", action_id="act-2"), "partnership-1")
        await eventually(lambda: _has(action_timers, {"act-2:action_j_minus_7": "cancelled", "act-1:action_j_minus_7": "pending"}))
        async with service.store.engine.connect() as conn:
            before = await pending_timers(conn)
        async with service.store.transaction() as tx:  # the defect
            await tx.connection.execute(delete(db.timers).where(db.timers.c.action_id == "act-0"))
            await tx.connection.execute(update(db.timers).where(db.timers.c.action_id == "act-2").values(status="pending"))

        report = await rebuild(service.store, JetStreamLog(nats.js, subject_root, SOURCES), clock)
        assert report["events"] == 6
        async with service.store.engine.connect() as conn:
            assert await pending_timers(conn) == before
        await publish(example("ActionScheduled", action_id="act-3", title="Atelier 3"), "partnership-1")
        await eventually(lambda: _has(action_timers, {"act-3:action_j_minus_1": "pending"}))  # the service goes on
        assert sum(s == "pending" for s in (await action_timers()).values()) == 6
    finally:
        await service.stop()
        await nats.close()
        for store in stores.values():
            await store.close()


async def _has(read, wanted: dict[str, str]) -> bool:
    found = await read()
    return all(found.get(k) == v for k, v in wanted.items())
