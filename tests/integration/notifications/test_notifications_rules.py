"""Each reminder rule, end to end: play the events, move the clock, read the SMTP mailbox."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.integration.notifications.notif_events import PID, example, play_attribution, referents

UTC = timezone.utc
CLAIRE, YANNICK, DAAC = "claire.martin@ac-paris.fr", "y.lebrun@carnavalet.example.fr", "daac@ac-paris.fr"


attributed = play_attribution


async def test_a_draft_not_submitted_is_reminded_at_the_school_and_a_submitted_one_is_not(harness) -> None:
    await harness.play(example("CampaignOpened"))
    await harness.play(example("CandidatureDrafted"))
    drafted = example("CandidatureDrafted", candidature_id="cand-other")
    await harness.play(drafted)
    await harness.play(example("CandidatureSubmitted", candidature_id="cand-other"))
    await harness.move_to(datetime(2025, 5, 25, tzinfo=UTC))
    school = example("CandidatureDrafted").school
    to_school = harness.mailbox.to(f"ce.{school.uai.lower()}@ac-paris.fr")
    assert [harness.mailbox.subject(m) for m in to_school] == ["Votre candidature en brouillon n'est pas encore déposée (J-7)"]
    assert school.name in harness.mailbox.body(to_school[0])
    cancelled = await harness.events("ReminderCancelled")
    assert {e.data["reason"] for e in cancelled} == {"satisfied"} and len(cancelled) == 2


async def test_an_attribution_reminds_both_referents_to_hold_the_work_meeting(harness) -> None:
    await attributed(harness)
    await harness.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))
    (mail,) = harness.mailbox.messages
    assert set(harness.mailbox.envelopes[0][1]) == {CLAIRE, YANNICK}
    assert "réunion de travail" in harness.mailbox.subject(mail)
    body = harness.mailbox.body(mail)
    assert "Musee Carnavalet" in body and "vendredi 17 octobre 2025" in body and "http://notif.test/ical/" in body


async def test_without_a_work_meeting_by_the_end_of_the_window_the_academie_is_alerted(harness) -> None:
    await attributed(harness)
    await harness.move_to(datetime(2025, 10, 18, 12, 0, tzinfo=UTC))
    (escalation,) = harness.mailbox.to(DAAC)
    assert "Sans réunion de travail" in harness.mailbox.subject(escalation) and "0750655E" in harness.mailbox.body(escalation)


async def test_a_work_meeting_scheduled_in_time_cancels_the_escalation(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    await harness.play(example("MeetingScheduled"))
    await harness.move_to(datetime(2025, 11, 1, tzinfo=UTC))
    assert harness.mailbox.to(DAAC) == []
    assert harness.mailbox.subjects() == [
        "Rappel : Reunion de travail : programme d'actions par classe dans 7 jours",
        "Rappel : Reunion de travail : programme d'actions par classe demain",
    ]


async def test_an_action_is_reminded_seven_days_and_one_day_before_with_its_date_and_place(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    await harness.play(example("ActionScheduled"))
    await harness.move_to(datetime(2025, 11, 11, 7, 0, tzinfo=UTC))
    (j7,) = [m for m in harness.mailbox.messages if "dans 7 jours" in harness.mailbox.subject(m)]
    body = harness.mailbox.body(j7)
    assert "mardi 18 novembre 2025 à 10 h 00" in body and "23 rue de Sevigne" in body
    assert set(harness.mailbox.envelopes[-1][1]) == {CLAIRE, YANNICK}
    await harness.move_to(datetime(2025, 11, 17, 7, 0, tzinfo=UTC))
    assert harness.mailbox.subjects()[-1] == "Rappel : Visite des salles Paris au XVIIIe siecle demain"


async def test_a_rescheduled_action_is_reminded_at_its_new_date_only(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    await harness.play(example("ActionScheduled"))
    await harness.play(example("ActionRescheduled"))  # 18 → 25 November
    await harness.move_to(datetime(2025, 11, 20, tzinfo=UTC))
    assert [harness.mailbox.subject(m) for m in harness.mailbox.messages if "Visite" in harness.mailbox.subject(m)] == [
        "Rappel : Visite des salles Paris au XVIIIe siecle dans 7 jours"]
    assert "mardi 25 novembre 2025" in harness.mailbox.body(harness.mailbox.messages[-1])
    reasons = [e.data["reason"] for e in await harness.events("ReminderCancelled")]
    assert reasons == ["rescheduled", "rescheduled"]


async def test_a_cancelled_action_is_not_reminded(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    await harness.play(example("ActionScheduled"))
    await harness.play(example("ActionCancelled", action_id="act-visite-carnavalet-cm1a"))
    await harness.move_to(datetime(2025, 11, 19, tzinfo=UTC))
    assert not [m for m in harness.mailbox.messages if "Visite" in harness.mailbox.subject(m)]


async def test_the_bilan_window_is_announced_and_a_missing_bilan_escalates(harness) -> None:
    await attributed(harness)
    await harness.move_to(datetime(2026, 5, 11, 6, 0, tzinfo=UTC))
    assert "le temps du bilan" in harness.mailbox.subjects()[-1]
    await harness.move_to(datetime(2026, 6, 21, tzinfo=UTC))
    (escalation,) = [m for m in harness.mailbox.to(DAAC) if "Bilan non enregistré" in harness.mailbox.subject(m)]
    assert "2025-2026" in harness.mailbox.body(escalation)


async def test_a_recorded_bilan_wishing_to_continue_cancels_the_escalation_and_reminds_the_renewal(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2026, 6, 5, 17, 0, tzinfo=UTC))
    await harness.play(example("BilanRecorded"))  # wish_to_continue true in the example
    await harness.move_to(datetime(2026, 6, 30, tzinfo=UTC))
    assert not [m for m in harness.mailbox.messages if "Bilan non enregistré" in harness.mailbox.subject(m)]
    (renewal,) = [m for m in harness.mailbox.messages if "renouvellement" in harness.mailbox.subject(m)]
    assert "vendredi 26 juin 2026" in harness.mailbox.body(renewal)
    assert CLAIRE in harness.mailbox.envelopes[harness.mailbox.messages.index(renewal)][1]


async def test_a_culture_partnership_in_its_third_year_is_not_asked_to_renew(harness) -> None:
    # Seed 000: three years at most; a fourth would be refused, so no reminder invites it.
    await attributed(harness)
    harness.clock.set(datetime(2026, 6, 5, 17, 0, tzinfo=UTC))
    await harness.play(example("BilanRecorded", year_index=3))  # wish_to_continue true in the example
    await harness.move_to(datetime(2026, 6, 30, tzinfo=UTC))
    assert not [m for m in harness.mailbox.messages if "renouvellement" in harness.mailbox.subject(m)]
    assert not [m for m in harness.mailbox.messages if "Bilan non enregistré" in harness.mailbox.subject(m)]


async def test_a_renewal_requested_in_time_is_not_reminded(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2026, 6, 5, 17, 0, tzinfo=UTC))
    await harness.play(example("BilanRecorded"))
    await harness.play(example("RenewalRequested"))
    await harness.move_to(datetime(2026, 6, 30, tzinfo=UTC))
    assert not [m for m in harness.mailbox.messages if "renouvellement" in harness.mailbox.subject(m)]


async def test_a_jes_partnership_sends_the_end_of_year_questionnaire_to_both_referents(harness) -> None:
    await attributed(harness, dispositif="entreprise")
    await harness.move_to(datetime(2026, 6, 16, 7, 0, tzinfo=UTC))
    (questionnaire,) = [m for m in harness.mailbox.messages if "questionnaire" in harness.mailbox.subject(m)]
    assert set(harness.mailbox.envelopes[harness.mailbox.messages.index(questionnaire)][1]) == {CLAIRE, YANNICK}


async def test_a_referent_named_after_the_plan_receives_the_reminder(harness) -> None:
    await attributed(harness, with_referents=False)
    for event in referents():
        await harness.play(event)
    await harness.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))
    assert set(harness.mailbox.envelopes[0][1]) == {CLAIRE, YANNICK}


async def test_an_ended_partnership_cancels_every_pending_reminder(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    await harness.play(example("ActionScheduled"))
    await harness.play(example("PartnershipEnded", school_year="2025-2026", year_index=1, reason="withdrawn"))
    assert await harness.move_to(datetime(2026, 12, 1, tzinfo=UTC)) == 0
    assert {t.status for t in await harness.timers(partnership_id=PID)} == {"cancelled"}


async def test_a_refused_message_is_retried_with_backoff_then_given_up(harness) -> None:
    await attributed(harness)
    harness.mailbox.refuse_with = "451 4.3.0 try again later"
    await harness.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))
    (timer,) = await harness.timers(rule="work_meeting_to_hold")
    assert (timer.status, timer.attempts) == ("pending", 1) and timer.next_attempt_at == datetime(2025, 9, 15, 6, 1, tzinfo=UTC)
    for minutes in (1, 6, 31, 151):
        await harness.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC).replace(hour=6 + minutes // 60, minute=minutes % 60))
    (timer,) = await harness.timers(rule="work_meeting_to_hold")
    assert (timer.status, timer.attempts) == ("failed", 5)
    failed = [e for e in await harness.events("ReminderFailed") if e.data["rule"] == "work_meeting_to_hold"]
    assert [e.data["final"] for e in failed] == [False, False, False, False, True]
    assert harness.mailbox.messages == []


async def test_an_academie_moves_the_escalation_date_through_an_override(harness) -> None:
    from notifications.adapters import db

    async with harness.store.transaction() as tx:
        await db.upsert(tx.connection, db.overrides, {"academie": "paris", "dispositif": "culture",
                        "rule": "work_meeting_escalation", "enabled": None, "offset_days": 14, "at_time": "09:30",
                        "fixed_date": None}, ["academie", "dispositif", "rule"])
    await attributed(harness)
    (timer,) = await harness.timers(rule="work_meeting_escalation")
    assert timer.due_at == datetime(2025, 10, 31, 8, 30, tzinfo=UTC)  # 17 Oct + 14 days, 09:30 Paris


async def test_a_rescheduled_meeting_is_reminded_at_its_new_date_and_place_only(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    await harness.play(example("MeetingScheduled"))  # 30 September
    await harness.play(example("MeetingRescheduled"))  # → 2 October, at the museum
    await harness.move_to(datetime(2025, 10, 3, tzinfo=UTC))
    meeting = [m for m in harness.mailbox.messages if "Reunion de travail :" in harness.mailbox.subject(m)]
    assert [harness.mailbox.subject(m) for m in meeting] == [
        "Rappel : Reunion de travail : programme d'actions par classe dans 7 jours",
        "Rappel : Reunion de travail : programme d'actions par classe demain",
    ]
    for mail in meeting:
        body = harness.mailbox.body(mail)
        assert "jeudi 2 octobre 2025" in body and "Musee Carnavalet, salle pedagogique" in body
        assert "30 septembre" not in body
    cancelled = [e for e in await harness.events("ReminderCancelled") if e.data["rule"].startswith("meeting_")]
    assert sorted(e.data["reason"] for e in cancelled) == ["rescheduled", "rescheduled"]


async def test_a_cancelled_meeting_is_not_reminded(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    await harness.play(example("MeetingScheduled"))
    await harness.play(example("MeetingCancelled", meeting_id="mtg-travail-2025", kind="work"))
    await harness.move_to(datetime(2025, 10, 1, tzinfo=UTC))
    assert not [m for m in harness.mailbox.messages if "Reunion de travail :" in harness.mailbox.subject(m)]
    cancelled = [e for e in await harness.events("ReminderCancelled") if e.data["rule"].startswith("meeting_")]
    assert sorted(e.data["reason"] for e in cancelled) == ["cancelled", "cancelled"]


async def test_cancelling_the_only_work_meeting_brings_the_escalation_back(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    await harness.play(example("MeetingScheduled"))  # satisfies the work-meeting rules
    harness.clock.set(datetime(2025, 9, 20, tzinfo=UTC))
    await harness.play(example("MeetingCancelled", meeting_id="mtg-travail-2025", kind="work"))
    (escalation,) = await harness.timers(rule="work_meeting_escalation")
    assert escalation.status == "pending"
    await harness.move_to(datetime(2025, 10, 18, 12, 0, tzinfo=UTC))
    (alert,) = harness.mailbox.to(DAAC)
    assert "Sans réunion de travail" in harness.mailbox.subject(alert)
    scheduled = [e for e in await harness.events("ReminderScheduled") if e.data["rule"] == "work_meeting_escalation"]
    assert len(scheduled) == 2 and len({e.stream_id for e in scheduled}) == 1  # the same reminder, planned again


async def test_cancelling_one_of_two_work_meetings_keeps_the_escalation_cancelled(harness) -> None:
    await attributed(harness)
    harness.clock.set(datetime(2025, 9, 10, tzinfo=UTC))
    await harness.play(example("MeetingScheduled"))
    await harness.play(example("MeetingScheduled", meeting_id="mtg-travail-bis", starts_at="2025-10-07T15:30:00Z"))
    await harness.play(example("MeetingCancelled", meeting_id="mtg-travail-2025", kind="work"))
    await harness.move_to(datetime(2025, 10, 18, 12, 0, tzinfo=UTC))
    assert harness.mailbox.to(DAAC) == []
    (escalation,) = await harness.timers(rule="work_meeting_escalation")
    assert escalation.status == "cancelled"


async def test_a_partnership_attributed_late_is_told_to_hold_its_work_meeting_the_next_morning(harness) -> None:
    harness.clock.set(datetime(2025, 9, 22, 10, 0, tzinfo=UTC))  # the work-meeting window opened on 15 Sept
    await harness.play(example("CampaignOpened"))
    await harness.play(example("PartnershipAttributed", late=True, late_reason="Place liberee par un desistement"))
    for event in referents():
        await harness.play(event)
    assert await harness.move_to(datetime(2025, 9, 23, 5, 59, tzinfo=UTC)) == 0
    await harness.move_to(datetime(2025, 9, 23, 6, 0, tzinfo=UTC))  # 08:00 in Paris
    (mail,) = harness.mailbox.messages
    assert "réunion de travail" in harness.mailbox.subject(mail)
    assert set(harness.mailbox.envelopes[0][1]) == {CLAIRE, YANNICK}
    (timer,) = await harness.timers(rule="work_meeting_to_hold")
    assert timer.status == "sent"


async def test_a_cnr_campaign_has_no_deadline_so_no_school_is_reminded_of_one(harness) -> None:
    """Seed 003: teams join the démarche « à tout moment »; a CNR calendar's submission date binds nobody."""
    from sqlalchemy import select

    from notifications.adapters import db

    cnr = {"campaign_id": "camp-paris-cnr-2025-2026", "dispositif": "concertation"}
    await harness.play(example("CampaignOpened", **cnr, title="Notre ecole, faisons-la ensemble"))
    await harness.play(example("CandidatureDrafted", **cnr, tier=None,
                               concertation={"concertation_summary": "Un temps d'echange avec les familles"}))
    await harness.play(example("CampaignOpened"))  # a culture call beside it keeps its deadline
    await harness.move_to(datetime(2025, 6, 2, tzinfo=UTC))
    assert {t.rule for t in await harness.timers(campaign_id=cnr["campaign_id"])} == set()
    assert {t.rule for t in await harness.timers(campaign_id="camp-paris-culture-2025-2026")} == {
        "campaign_deadline_j_minus_7", "campaign_deadline_j_minus_1"}
    async with harness.store.engine.connect() as conn:
        deadlines = (await conn.execute(select(db.calendar_items.c.campaign_id)
                                        .where(db.calendar_items.c.kind == "deadline"))).all()
    assert deadlines == []
