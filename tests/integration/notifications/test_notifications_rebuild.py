"""``python -m notifications rebuild``: after a corrupted state (timers lost, reminders of a
cancelled action pending again), the rebuild restores the pending timers a fresh correct run
has, never sends again what was sent, and leaves the cancelled action cancelled in the feed."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import delete, select, update

from jumelage_contracts import parse_event
from notifications.adapters import db
from notifications.adapters.replay import ListLog
from notifications.app.rebuild import pending_timers, rebuild, sources_of
from tests.integration.notifications.notif_events import example, play_attribution
from tests.integration.notifications.notif_harness import make_harness

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
