"""Notifications under crashes: a process killed between handing reminders to the mail server and
recording them loses none (they are sent again, with the same Message-ID), holds what a rebuild
from the events would, and a restart fires what fell due while the service was down, once, and
records as missed what is past its grace."""

from __future__ import annotations

import subprocess
import uuid
import sys
import textwrap
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from eventkit.sql import open_store
from notifications.adapters.db import MIGRATIONS_DIR
from notifications.adapters.mail import SmtpMailer
from notifications.adapters import db
from notifications.adapters.replay import ListLog
from notifications.app.rebuild import pending_timers, rebuild, sources_of
from notifications.app.scheduler import Scheduler
import pytest

from sqlalchemy import select

from jumelage_contracts import to_envelope
from tests.integration.notifications.notif_events import example, play_programme
from tests.integration.notifications.notif_harness import SmtpServer, make_harness

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]

# The child is a real process: it fires the due timers and is killed (os._exit, no rollback code,
# no finally) the moment the mail server has accepted the batch, before anything is committed.
CHILD = textwrap.dedent("""
    import asyncio, os, sys
    from datetime import datetime
    from eventkit.clock import ManualClock
    from eventkit.sql import open_store
    from notifications.adapters.db import MIGRATIONS_DIR
    from notifications.adapters.mail import SmtpMailer
    from notifications.app.scheduler import Scheduler

    class KilledAfterSending(SmtpMailer):
        async def send_many(self, mails, now):
            outcomes = await super().send_many(mails, now)
            print(len(outcomes), flush=True)
            os._exit(9)

    async def main(url, port, now):
        store = await open_store(url, extra_migrations=[MIGRATIONS_DIR])
        mailer = KilledAfterSending("127.0.0.1", int(port), "ne-pas-repondre@jumelage.example.fr")
        await Scheduler(store, ManualClock(datetime.fromisoformat(now)), mailer, batch_size=50).tick()

    asyncio.run(main(*sys.argv[1:]))
""")


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
async def pg_harness(postgres_url, smtp):
    h = await make_harness(postgres_url, smtp, datetime(2025, 4, 1, tzinfo=UTC))
    yield h
    await h.store.close()


plan_programme = play_programme


async def test_a_process_killed_after_sending_and_before_recording_loses_no_reminder(pg_harness, smtp, postgres_url) -> None:
    h = pg_harness
    await plan_programme(h)
    # a second action cancelled, its two events delivered the wrong way round (a consumer crash)
    scheduled = example("ActionScheduled", action_id="act-annulee", title="Atelier annulé")
    cancelled = example("ActionCancelled", action_id="act-annulee")
    for event, at in ((cancelled, datetime(2025, 9, 3, tzinfo=UTC)), (scheduled, datetime(2025, 9, 2, tzinfo=UTC))):
        await h.deliver(to_envelope(event, stream_id="partnership-1", occurred_at=at, correlation_id=uuid.uuid4(),
                                    academie="paris"), event)
    # the action's J-7 and J-1 are due (the visit is tomorrow); the meeting's (30 September) are
    # past their grace: the batch records them as missed, and sends the two others
    now = datetime(2025, 11, 17, 7, 0, tzinfo=UTC)
    child = subprocess.run([sys.executable, "-c", CHILD, postgres_url, str(smtp.port), now.isoformat()],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert child.returncode == 9, child.stderr
    handed_over = int(child.stdout.strip())
    assert handed_over == 2 and len(smtp.mailbox.messages) == 2
    assert await h.events("ReminderSent") == []  # nothing was recorded: the process died before recording
    assert {t.status for t in await h.timers() if t.rule.startswith(("action_", "meeting_"))
            and t.action_id != "act-annulee"} == {"pending"}

    # restart: a new process (new store, new scheduler) on the same database
    store = await open_store(postgres_url, extra_migrations=[MIGRATIONS_DIR])
    try:
        h.clock.set(now)
        scheduler = Scheduler(store, h.clock, SmtpMailer("127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"))
        assert await scheduler.tick() == 0  # the dead process's claim still runs (600 s by default)
        h.clock.set(now + timedelta(seconds=601))
        assert await scheduler.tick() == 4
        assert await scheduler.tick() == 0
    finally:
        await store.close()
    copies = Counter(m["Message-ID"] for m in smtp.mailbox.messages)
    # worst case, stated: each reminder of the killed batch delivered twice, with the same Message-ID
    assert len(copies) == 2 and set(copies.values()) == {2}
    sent = await h.events("ReminderSent")
    assert len(sent) == 2 and {e.data["message_id"] for e in sent} == set(copies)
    assert {t.rule: t.status for t in await h.timers() if t.rule.startswith("meeting_")} == {
        "meeting_j_minus_7": "missed", "meeting_j_minus_1": "missed"}
    # what the restarted process holds is what a rebuild from the events gives: nothing to repair
    async with h.store.engine.connect() as conn:
        before = await pending_timers(conn)
    report = await rebuild(h.store, ListLog(sources_of(h.played)), h.clock)
    async with h.store.engine.connect() as conn:
        assert await pending_timers(conn) == before and report["reminder_events"] == 0
        cancelled_items = select(db.calendar_items.c.uid).where(db.calendar_items.c.status == "CANCELLED")
        assert len((await conn.execute(cancelled_items)).all()) == 1
        pending_of_cancelled = select(db.timers.c.reminder_id).where(
            db.timers.c.status == "pending", db.timers.c.action_id == "act-annulee")
        assert (await conn.execute(pending_of_cancelled)).all() == []


async def test_a_restart_fires_what_fell_due_while_the_service_was_down_once_and_records_what_is_past_its_grace(pg_harness, smtp, postgres_url) -> None:
    h = pg_harness
    await plan_programme(h)
    await h.store.close()  # the service goes down in September...
    h.clock.set(datetime(2026, 5, 12, tzinfo=UTC))  # ...and comes back in May
    for restart in range(2):
        store = await open_store(postgres_url, extra_migrations=[MIGRATIONS_DIR])
        try:
            scheduler = Scheduler(store, h.clock, SmtpMailer("127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"))
            fired = await scheduler.tick()
        finally:
            await store.close()
        assert fired == (5 if restart == 0 else 0)
    h.store = await open_store(postgres_url, extra_migrations=[MIGRATIONS_DIR])
    # the bilan window is open: its reminder goes out, late; the J-7 / J-1 of last autumn's
    # meeting and visit are past their grace: recorded as missed (visible, counted), not sent
    assert [s.endswith("le temps du bilan") for s in h.mailbox.subjects()] == [True]
    assert sorted(t.rule for t in await h.timers(status="missed")) == [
        "action_j_minus_1", "action_j_minus_7", "meeting_j_minus_1", "meeting_j_minus_7"]
    assert {e.data["reason"] for e in await h.events("ReminderMissed")} == {"not_sent_before_its_grace"}
