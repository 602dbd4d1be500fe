"""Killing the scheduler between sending and recording loses no reminder (at least once, same
Message-ID), and no write transaction is open while the mail server talks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from notifications.adapters.mail import SmtpMailer
from notifications.app.scheduler import Scheduler
from tests.integration.notifications.notif_events import example, play_attribution
from tests.integration.notifications.notif_harness import make_harness

UTC = timezone.utc
CLAIM = 600  # the scheduler's default lease, seconds
DUE = datetime(2025, 9, 15, 6, 0, tzinfo=UTC)  # work_meeting_to_hold falls due at 08:00 Paris


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


class DiesAfterSending(SmtpMailer):
    async def send_many(self, mails, now):
        await super().send_many(mails, now)  # the server has accepted the messages...
        raise Killed()  # ...and the process dies before anything is recorded


attributed = play_attribution


async def kill_then_restart(url: str, smtp, first) -> None:
    await attributed(first)
    first.clock.set(DUE)
    dying = Scheduler(first.store, first.clock, DiesAfterSending("127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"))
    try:
        await dying.tick()
        raise AssertionError("the scheduler should have died")
    except Killed:
        pass
    await first.store.close()
    (delivered,) = smtp.mailbox.messages
    restarted = await make_harness(url, smtp, DUE + timedelta(seconds=30))
    try:
        (timer,) = await restarted.timers(rule="work_meeting_to_hold")
        assert timer.status == "pending" and await restarted.events("ReminderSent") == []
        # Still within the claim's lease: a replica could be recording it, nobody sends it yet.
        assert await restarted.scheduler.tick() == 0
        assert await restarted.move_to(DUE + timedelta(seconds=CLAIM + 1)) == 1
        first_copy, second_copy = smtp.mailbox.messages
        assert first_copy is delivered
        assert second_copy["Message-ID"] == first_copy["Message-ID"]
        assert second_copy["X-Jumelage-Dedup-Key"] == first_copy["X-Jumelage-Dedup-Key"]
        (sent,) = await restarted.events("ReminderSent")
        assert sent.data["message_id"] == first_copy["Message-ID"] and sent.data["attempt"] == 1
        (timer,) = await restarted.timers(rule="work_meeting_to_hold")
        assert timer.status == "sent"
        assert await restarted.move_to(DUE + timedelta(days=1)) == 0  # once recorded, never again
        assert len(smtp.mailbox.messages) == 2
    finally:
        await restarted.store.close()


async def test_killed_between_sending_and_recording_the_reminder_is_sent_again_with_the_same_message_id(
        sqlite_url, smtp, harness) -> None:
    await kill_then_restart(sqlite_url, smtp, harness)


async def test_killed_between_sending_and_recording_on_postgresql(postgres_url, smtp, pg_harness) -> None:
    await kill_then_restart(postgres_url, smtp, pg_harness)


async def test_events_are_consumed_while_a_batch_is_on_the_wire(harness, smtp) -> None:
    """SQLite has one writer: the send must not hold it, or every consumer waits for the SMTP server."""
    await attributed(harness)
    consumed: list[bool] = []

    class PlaysAnEventWhileSending(SmtpMailer):
        async def send_many(self, mails, now):
            harness.clock.set(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))
            await asyncio.wait_for(harness.play(example("ActionScheduled")), timeout=5)
            consumed.append(True)
            return await super().send_many(mails, now)

    harness.clock.set(DUE)
    scheduler = Scheduler(harness.store, harness.clock, PlaysAnEventWhileSending(
        "127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"))
    assert await scheduler.tick() == 1
    assert consumed == [True]
    assert len(await harness.timers(rule="action_j_minus_1")) == 1  # the event's plan committed
    (sent,) = await harness.events("ReminderSent")
    assert sent.data["rule"] == "work_meeting_to_hold"


async def test_a_replica_that_outlives_its_claim_sends_a_copy_but_the_reminder_is_recorded_once(pg_harness, smtp) -> None:
    """A stalls on the wire past its lease; B takes the batch over, sends and records it; when A
    finally records, the reminder is already sent: one ReminderSent, two copies, one Message-ID."""
    h = pg_harness
    await attributed(h)
    h.clock.set(DUE)
    second = Scheduler(h.store, h.clock, SmtpMailer("127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"),
                       claim_seconds=60)
    taken_over: list[int] = []

    class StallsPastItsLease(SmtpMailer):
        async def send_many(self, mails, now):
            outcomes = await super().send_many(mails, now)
            h.clock.set(DUE + timedelta(seconds=61))  # the lease runs out while A is still here
            taken_over.append(await second.tick())
            return outcomes

    first = Scheduler(h.store, h.clock, StallsPastItsLease("127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"),
                      claim_seconds=60)
    assert await first.tick() == 1 and taken_over == [1]
    one, other = smtp.mailbox.messages
    assert one["Message-ID"] == other["Message-ID"]
    (sent,) = await h.events("ReminderSent")
    assert sent.data["message_id"] == one["Message-ID"]
    (timer,) = await h.timers(rule="work_meeting_to_hold")
    assert (timer.status, timer.attempts) == ("sent", 1)


async def cancelled_while_on_the_wire(h, smtp) -> None:
    """The work meeting is scheduled (which cancels 'hold your work meeting') while that very
    reminder is on the wire: the stream says cancelled, then sent, and the timer says sent."""
    await attributed(h)

    class MeetingScheduledWhileSending(SmtpMailer):
        async def send_many(self, mails, now):
            await h.play(example("MeetingScheduled"))
            return await super().send_many(mails, now)

    h.clock.set(DUE)
    scheduler = Scheduler(h.store, h.clock, MeetingScheduledWhileSending(
        "127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"))
    assert await scheduler.tick() == 1
    (mail,) = smtp.mailbox.messages
    (timer,) = await h.timers(rule="work_meeting_to_hold")
    stream = [e.type for e in await h.events() if e.stream_id == f"reminder-{timer.reminder_id}"]
    assert stream == ["ReminderScheduled", "ReminderCancelled", "ReminderSent"]
    (sent,) = [e for e in await h.events("ReminderSent") if e.data["reminder_id"] == timer.reminder_id]
    assert sent.data["message_id"] == mail["Message-ID"] and sent.data["attempt"] == 1
    assert {r["email"] for r in sent.data["recipients"]} == set(smtp.mailbox.envelopes[0][1])
    assert (timer.status, timer.message_id) == ("sent", mail["Message-ID"])
    # The escalation was cancelled before it was due and stays so; nothing more goes out.
    (escalation,) = await h.timers(rule="work_meeting_escalation")
    assert escalation.status == "cancelled"
    await h.move_to(DUE + timedelta(days=60))
    assert smtp.mailbox.to("daac@ac-paris.fr") == []
    assert len([m for m in smtp.mailbox.messages if m["Message-ID"] == mail["Message-ID"]]) == 1


async def test_a_reminder_cancelled_while_its_mail_is_on_the_wire_is_recorded_as_sent(harness, smtp) -> None:
    await cancelled_while_on_the_wire(harness, smtp)


async def test_a_reminder_cancelled_while_its_mail_is_on_the_wire_is_recorded_as_sent_on_postgresql(
        pg_harness, smtp) -> None:
    await cancelled_while_on_the_wire(pg_harness, smtp)
