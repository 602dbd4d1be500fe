"""HTTP API and iCalendar feeds, through the real app (store injected, lifespan not started)."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from icalendar import Calendar

from eventkit.auth import mint_token
from eventkit.settings import DEV_SECRET, ServiceSettings
from notifications.bootstrap import MailSettings, build
from tests.integration.notifications.notif_events import PID, example, play_programme

UTC = timezone.utc
UAI = "0750655E"


@pytest.fixture
async def api(harness, smtp):
    settings = ServiceSettings.from_env("notifications", env={}, clock="manual", public_url="http://notif.test")
    app, service = build(settings, clock=harness.clock, store=harness.store,
                         mail=MailSettings(port=smtp.port), scheduler_enabled=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://notif.test") as client:
        yield client


def auth(role: str, scope: str, email: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(DEV_SECRET, role, scope, email=email)}"}


programme = play_programme


def parse(body: bytes) -> dict[str, dict]:
    calendar = Calendar.from_ical(body)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


async def test_a_partnership_feed_lists_its_actions_meetings_and_deadlines(harness, api) -> None:
    await programme(harness)
    found = await api.get(f"/feeds/partnership/{PID}", headers=auth("school", UAI))
    assert found.status_code == 200
    url = found.json()["url"]
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 40
    feed = await api.get(url)
    assert feed.headers["content-type"].startswith("text/calendar")
    events = parse(feed.content)
    action = events[f"action-{PID}.act-visite-carnavalet-cm1a@jumelage.notifications"]
    assert str(action["SUMMARY"]) == "Visite des salles Paris au XVIIIe siecle"
    assert action.decoded("DTSTART") == datetime(2025, 11, 18, 9, 0, tzinfo=UTC)
    assert str(action["LOCATION"]).startswith("Musee Carnavalet") and int(action["SEQUENCE"]) == 0
    assert f"meeting-{PID}.mtg-travail-2025@jumelage.notifications" in events
    (deadline,) = [e for uid, e in events.items() if uid.startswith("deadline-work-meeting-")]
    assert str(deadline["SUMMARY"]) == "Date limite de la réunion de travail (Ecole elementaire Belleville)"
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"


async def test_a_rescheduled_action_keeps_its_uid_and_raises_its_sequence_and_a_cancelled_one_is_marked(harness, api) -> None:
    await programme(harness)
    url = (await api.get(f"/feeds/partnership/{PID}", headers=auth("admin", "*"))).json()["url"]
    await harness.play(example("ActionRescheduled"))
    action = parse((await api.get(url)).content)[f"action-{PID}.act-visite-carnavalet-cm1a@jumelage.notifications"]
    assert int(action["SEQUENCE"]) == 1 and action.decoded("DTSTART") == datetime(2025, 11, 25, 9, 0, tzinfo=UTC)
    await harness.play(example("ActionCancelled", action_id="act-visite-carnavalet-cm1a"))
    action = parse((await api.get(url)).content)[f"action-{PID}.act-visite-carnavalet-cm1a@jumelage.notifications"]
    assert (str(action["STATUS"]), int(action["SEQUENCE"])) == ("CANCELLED", 2)


async def test_two_partnerships_may_use_the_same_action_id_without_sharing_items_or_reminders(harness, api) -> None:
    """Clients choose action ids, unique within their partnership only."""
    await programme(harness)
    other, action_id = "6f1d2c3b-0000-5000-8000-00000000beef", "act-visite-carnavalet-cm1a"
    await harness.play(example("PartnershipAttributed", partnership_id=other, candidature_id="cand-autre"))
    await harness.play(example("ActionScheduled", partnership_id=other))
    await harness.play(example("ActionCancelled", partnership_id=other, action_id=action_id))
    admin = auth("admin", "*")
    feeds = {pid: parse((await api.get((await api.get(f"/feeds/partnership/{pid}", headers=admin)).json()["url"])).content)
             for pid in (PID, other)}
    assert str(feeds[PID][f"action-{PID}.{action_id}@jumelage.notifications"]["STATUS"]) == "CONFIRMED"
    assert str(feeds[other][f"action-{other}.{action_id}@jumelage.notifications"]["STATUS"]) == "CANCELLED"
    upcoming = (await api.get("/reminders", headers=admin)).json()["reminders"]
    assert {(r["partnership_id"], r["rule"]) for r in upcoming if r["action_id"] == action_id} == {
        (PID, "action_j_minus_7"), (PID, "action_j_minus_1")}


async def test_the_school_and_referent_feeds_show_the_same_items(harness, api) -> None:
    await programme(harness)
    school = (await api.get(f"/feeds/school/{UAI}", headers=auth("school", UAI))).json()["url"]
    yannick = "y.lebrun@carnavalet.example.fr"  # the person herself (who else gets her feed: test_notifications_feeds.py)
    referent = (await api.get(f"/feeds/referent/{yannick}", headers=auth("partner", "musee-carnavalet", yannick))).json()["url"]
    school_uids = set(parse((await api.get(school)).content))
    assert set(parse((await api.get(referent)).content)) <= school_uids and len(school_uids) >= 5


async def test_feeds_are_out_of_reach_without_the_token_or_outside_ones_scope(harness, api) -> None:
    await programme(harness)
    assert (await api.get("/ical/not-a-token.ics")).status_code == 404
    assert (await api.get(f"/feeds/partnership/{PID}")).status_code == 401
    assert (await api.get(f"/feeds/partnership/{PID}", headers=auth("school", "0130001A"))).status_code == 403
    assert (await api.get(f"/feeds/school/{UAI}", headers=auth("partner", "musee-carnavalet"))).status_code == 403


async def test_a_recipient_lists_its_upcoming_reminders_within_its_scope(harness, api) -> None:
    await programme(harness)
    mine = await api.get("/reminders", params={"email": "claire.martin@ac-paris.fr"}, headers=auth("school", UAI))
    rules = [r["rule"] for r in mine.json()["reminders"]]
    # the work meeting is scheduled: "hold your work meeting" was cancelled as satisfied
    assert rules == ["meeting_j_minus_7", "meeting_j_minus_1", "action_j_minus_7", "action_j_minus_1",
                     "bilan_window_open"]
    other = await api.get("/reminders", headers=auth("school", "0130001A"))
    assert other.json()["reminders"] == []
    assert (await api.get("/reminders", headers=auth("academie", "lille"))).json()["reminders"] == []


async def test_the_admin_moves_the_manual_clock_and_due_reminders_are_sent(harness, api, smtp) -> None:
    await programme(harness)
    due = await api.get("/ops/reminders", params={"state": "due"}, headers=auth("academie", "paris"))
    assert due.json()["count"] == 0
    assert (await api.post("/admin/clock", json={"now": "2025-09-24T00:00:00Z"}, headers=auth("academie", "paris"))).status_code == 403
    moved = await api.post("/admin/clock", json={"now": "2025-09-24T00:00:00Z"}, headers=auth("admin", "*"))
    assert moved.json()["fired"] == 1  # the meeting's J-7 ("hold the meeting" was satisfied)
    assert len(smtp.mailbox.messages) == 1


async def test_ops_lists_the_failed_reminders(harness, api, smtp) -> None:
    await programme(harness)
    smtp.mailbox.refuse_with = "550 5.1.1 mailbox unavailable"
    await api.post("/admin/clock", json={"now": "2025-09-24T00:00:00Z"}, headers=auth("admin", "*"))
    failed = (await api.get("/ops/reminders", params={"state": "failed"}, headers=auth("national", "*"))).json()
    assert failed["count"] == 1 and all("550" in r["last_error"] for r in failed["reminders"])
    assert (await api.get("/ops/reminders", headers=auth("school", UAI))).status_code == 403


async def test_an_academie_overrides_a_rule_through_the_api(harness, api) -> None:
    body = {"offset_days": 14, "at": "09:30"}
    assert (await api.put("/admin/rules/paris/culture/work_meeting_escalation", json=body,
                          headers=auth("academie", "lille"))).status_code == 403
    changed = await api.put("/admin/rules/paris/culture/work_meeting_escalation", json=body, headers=auth("academie", "paris"))
    rule = next(r for r in changed.json()["rules"] if r["name"] == "work_meeting_escalation")
    assert (rule["offset_days"], rule["at"]) == (14, "09:30")
    assert (await api.put("/admin/rules/paris/culture/no_such_rule", json=body, headers=auth("admin", "*"))).status_code == 404


async def test_the_metrics_endpoint_counts_the_reminders_due_and_unsent(harness, api) -> None:
    from notifications.app.scheduler import Scheduler

    await programme(harness)
    scheduler = Scheduler(harness.store, harness.clock, mailer=None)
    assert await scheduler.observe_due() == 0
    harness.clock.set(datetime(2025, 9, 24, tzinfo=UTC))  # the meeting's J-7 is now due, nothing fired it
    assert await scheduler.observe_due() == 1
    metrics = await api.get("/metrics")
    assert "jumelage_reminders_due 1.0" in metrics.text


async def test_ops_lists_the_reminders_due_and_not_yet_sent(harness, api) -> None:
    await programme(harness)
    harness.clock.set(datetime(2025, 9, 24, tzinfo=UTC))  # the meeting's J-7 is due; no scheduler ran
    due = (await api.get("/ops/reminders", params={"state": "due"}, headers=auth("academie", "paris"))).json()
    assert due["count"] == 1 and due["due_total"] == 1
    (reminder,) = due["reminders"]
    assert reminder["rule"] == "meeting_j_minus_7" and reminder["status"] == "pending"
    other = (await api.get("/ops/reminders", params={"state": "due"}, headers=auth("academie", "lille"))).json()
    assert other["count"] == 0


async def test_a_hostile_title_cannot_add_a_line_or_an_event_to_the_feed(harness, api) -> None:
    """icalendar escapes ``\\``, ``;``, ``,`` and line breaks (CR alone included) in TEXT values:
    what a user typed comes back as typed, on its own content line. New events cannot carry a
    line break in a title any more (the contract's bounds); one stored before that still can."""
    hostile = "Visite\r\nEND:VEVENT\r\nBEGIN:VEVENT\rSUMMARY:faux; <b>x</b>, \\ fin"
    await programme(harness)
    await harness.play(example("ActionScheduled", stored=True, action_id="act-hostile", title=hostile, place="Salle 1;2,3\nétage"))
    url = (await api.get(f"/feeds/partnership/{PID}", headers=auth("school", UAI))).json()["url"]
    feed = await api.get(url)
    lines = feed.content.split(b"\r\n")
    assert lines.count(b"BEGIN:VEVENT") == lines.count(b"END:VEVENT") == len(parse(feed.content))
    assert not any(line.startswith(b"SUMMARY:faux") for line in lines) and b"\r" not in b"".join(lines)
    action = parse(feed.content)[f"action-{PID}.act-hostile@jumelage.notifications"]
    assert str(action["SUMMARY"]) == hostile.replace("\r\n", "\n").replace("\r", "\n")
    assert str(action["LOCATION"]) == "Salle 1;2,3\nétage"
