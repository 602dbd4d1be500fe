"""Order and progress on the bus, as notifications lives it: an event that reaches the consumer
late (lag, a crash, a service down) still gets its reminders — sent late within the rule's grace,
recorded as missed after it — and effects that arrive before their causes (an ActionCancelled
before its ActionScheduled) are held until the cause comes, never applied wrongly. Real SMTP
server, real store (SQLite and PostgreSQL), the HTTP app for /reminders and the iCal feed."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import httpx
import pytest
from icalendar import Calendar

from eventkit.auth import mint_token
from eventkit.settings import DEV_SECRET, ServiceSettings
from jumelage_contracts import to_envelope
from notifications.bootstrap import MailSettings, build
from tests.integration.notifications.notif_events import PID, example, play_attribution
from tests.waiting import eventually

UTC = timezone.utc
UAI = "0750655E"
ACTION_UID = f"action-{PID}.act-visite-carnavalet-cm1a@jumelage.notifications"


@pytest.fixture(params=["sqlite", "postgresql"])
def h(request):
    return request.getfixturevalue("harness" if request.param == "sqlite" else "pg_harness")


@pytest.fixture
async def api(h, smtp):
    settings = ServiceSettings.from_env("notifications", env={}, clock="manual", public_url="http://notif.test")
    app, _ = build(settings, clock=h.clock, store=h.store, mail=MailSettings(port=smtp.port), scheduler_enabled=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://notif.test") as client:
        yield client


def school() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(DEV_SECRET, 'school', UAI)}"}


def happened(h, event, at: datetime):
    """The envelope of ``event`` as its producer wrote it at ``at`` (it reaches us later)."""
    return to_envelope(event, stream_id=f"partnership-{PID}", occurred_at=at, correlation_id=uuid.uuid4(),
                       academie="paris")


async def action_reminders(api) -> dict[str, dict]:
    listed = (await api.get("/reminders", headers=school())).json()["reminders"]
    return {r["rule"]: r for r in listed if r["action_id"] == "act-visite-carnavalet-cm1a"}


# -- (a) a consumer held back past a reminder's time ------------------------------------------------

async def test_an_action_scheduled_that_reaches_us_after_its_j_minus_7_is_reminded_late(h, api) -> None:
    await play_attribution(h)
    scheduled = happened(h, example("ActionScheduled"), datetime(2025, 10, 1, tzinfo=UTC))  # visit 18 Nov
    h.clock.set(datetime(2025, 11, 12, 9, 0, tzinfo=UTC))  # the consumer was held back until after J-7
    await h.deliver(scheduled, example("ActionScheduled"))
    listed = await action_reminders(api)
    assert {rule: r["status"] for rule, r in listed.items()} == {"action_j_minus_7": "pending",
                                                                 "action_j_minus_1": "pending"}
    await h.scheduler.tick()  # the J-7 goes out now, late; the J-1 waits for its day
    assert [s for s in h.mailbox.subjects() if "Visite" in s] == [
        "Rappel : Visite des salles Paris au XVIIIe siecle dans 7 jours"]
    await h.move_to(datetime(2025, 11, 17, 7, 0, tzinfo=UTC))
    assert [s for s in h.mailbox.subjects() if "Visite" in s][-1] == "Rappel : Visite des salles Paris au XVIIIe siecle demain"


async def test_an_action_scheduled_that_reaches_us_after_the_visit_records_its_reminders_as_missed(h, api) -> None:
    await play_attribution(h)
    scheduled = happened(h, example("ActionScheduled"), datetime(2025, 10, 1, tzinfo=UTC))
    h.clock.set(datetime(2025, 11, 19, tzinfo=UTC))  # the visit (18 Nov, 10:00) is over
    await h.deliver(scheduled, example("ActionScheduled"))
    await h.scheduler.tick()
    assert [s for s in h.mailbox.subjects() if "Visite" in s] == []
    listed = await action_reminders(api)
    assert {rule: (r["status"], r["last_error"]) for rule, r in listed.items()} == {
        "action_j_minus_7": ("missed", "arrived_after_its_grace"),
        "action_j_minus_1": ("missed", "arrived_after_its_grace")}
    assert listed["action_j_minus_1"]["late_until"].startswith("2025-11-18T09:00:00")
    missed = [e for e in await h.events("ReminderMissed") if e.data["rule"].startswith("action_")]
    assert sorted(e.data["rule"] for e in missed) == ["action_j_minus_1", "action_j_minus_7"]
    assert {e.data["caused_by"] for e in missed} == {str(scheduled.id)}
    await h.deliver(happened(h, example("ActionScheduled"), datetime(2025, 10, 1, tzinfo=UTC)),
                    example("ActionScheduled"))  # the same fact again (a republish): nothing new
    assert len([e for e in await h.events("ReminderMissed") if e.data["rule"].startswith("action_")]) == 2


async def test_an_action_scheduled_for_the_day_after_tomorrow_still_has_no_j_minus_7(h) -> None:
    await play_attribution(h)
    h.clock.set(datetime(2025, 11, 16, 12, 0, tzinfo=UTC))
    await h.play(example("ActionScheduled"))
    assert sorted((t.rule, t.status) for t in await h.timers(scope="action")) == [("action_j_minus_1", "pending")]


# -- (b) effects before causes ------------------------------------------------------------------------

async def feed_items(api) -> dict[str, str]:
    url = (await api.get(f"/feeds/partnership/{PID}", headers=school())).json()["url"]
    calendar = Calendar.from_ical((await api.get(url)).content)
    return {str(e["UID"]): str(e.get("STATUS")) for e in calendar.walk("VEVENT")}


async def test_an_action_cancelled_before_its_scheduling_arrives_leaves_no_reminder_and_no_confirmed_entry(h, api) -> None:
    await play_attribution(h)
    h.clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    scheduled = happened(h, example("ActionScheduled"), datetime(2025, 10, 1, tzinfo=UTC))
    cancelled = happened(h, example("ActionCancelled", action_id="act-visite-carnavalet-cm1a"), datetime(2025, 10, 2, tzinfo=UTC))
    await h.deliver(cancelled, example("ActionCancelled", action_id="act-visite-carnavalet-cm1a"))  # the crash gave us the later one first
    assert await h.timers(scope="action") == []
    await h.deliver(scheduled, example("ActionScheduled"))
    assert [t for t in await h.timers(scope="action") if t.status == "pending"] == []
    assert await action_reminders(api) == {}
    assert (await feed_items(api))[ACTION_UID] == "CANCELLED"
    await h.deliver(scheduled, example("ActionScheduled"))  # redelivered around it: the inbox skips it
    assert [t for t in await h.timers(scope="action") if t.status == "pending"] == []
    await h.move_to(datetime(2025, 11, 30, tzinfo=UTC))
    assert [s for s in h.mailbox.subjects() if "Visite" in s] == []


async def test_an_action_scheduled_before_its_partnership_is_known_is_held_then_planned(h) -> None:
    h.clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    scheduled = happened(h, example("ActionScheduled"), datetime(2025, 9, 20, tzinfo=UTC))
    await h.deliver(scheduled, example("ActionScheduled"))  # programmes' stream ran ahead of candidatures'
    assert await h.timers(scope="action") == []
    await h.play(example("CampaignOpened"))
    await h.play(example("PartnershipAttributed"))
    assert sorted(t.rule for t in await h.timers(scope="action", status="pending")) == [
        "action_j_minus_1", "action_j_minus_7"]


async def test_a_work_meeting_known_before_the_attribution_plans_no_hold_your_meeting_reminder(h) -> None:
    h.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    await h.play(example("ProgrammeYearOpened"))
    await h.play(example("MeetingScheduled"))  # the work meeting, from programmes' stream
    await h.play(example("CampaignOpened"))
    await h.play(example("PartnershipAttributed"))  # candidatures' stream, late
    pending = {t.rule for t in await h.timers(scope="partnership", status="pending")}
    assert "work_meeting_to_hold" not in pending and "work_meeting_escalation" not in pending
    assert "bilan_window_open" in pending


async def test_a_candidature_submitted_before_its_draft_arrives_gets_no_draft_reminder(h) -> None:
    await h.play(example("CampaignOpened"))
    await h.play(example("CandidatureSubmitted", candidature_id="cand-x"))
    await h.play(example("CandidatureDrafted", candidature_id="cand-x"))
    assert await h.timers(scope="candidature") == []


async def test_a_partnership_ended_before_its_attribution_arrives_plans_nothing(h) -> None:
    h.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    await h.play(example("PartnershipEnded"))  # held: the partnership is not known yet
    await h.play(example("ProgrammeYearOpened"))  # programmes' stream: the end applies
    await h.play(example("CampaignOpened"))
    await h.play(example("PartnershipAttributed"))  # candidatures' stream, late
    assert [t.rule for t in await h.timers(status="pending") if t.partnership_id == PID] == []


async def test_a_cause_and_its_effect_applied_at_once_by_two_consumers_never_leave_the_effect_held(pg_harness) -> None:
    """Candidatures' consumer writes the partnership while programmes' consumer, in its own
    transaction, looks for it: the effect must not be held after the cause's release ran."""
    import asyncio

    from sqlalchemy import text

    h = pg_harness
    h.clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    await h.play(example("CampaignOpened"))
    attributed, scheduled = example("PartnershipAttributed"), example("ActionScheduled")
    a_env = happened(h, attributed, h.clock.now())
    s_env = happened(h, scheduled, h.clock.now())

    async def programmes_consumer() -> None:
        async with h.store.transaction() as tx:
            await h.handler(tx, s_env, scheduled)

    async def waiting_on_a_lock() -> bool:
        async with h.store.engine.connect() as conn:
            return bool(await conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")))

    async with h.store.transaction() as tx:  # candidatures' consumer, not committed yet
        await h.handler(tx, a_env, attributed)
        other = asyncio.create_task(programmes_consumer())
        async def ended_or_waiting() -> bool:
            return other.done() or await waiting_on_a_lock()

        await eventually(ended_or_waiting, timeout=10, interval=0.02,
                         what="the other consumer to end or wait on the lock")
    await asyncio.wait_for(other, 10)
    assert sorted(t.rule for t in await h.timers(scope="action", status="pending")) == [
        "action_j_minus_1", "action_j_minus_7"]
