"""Decisions told to the people concerned, on PostgreSQL and SQLite with a real SMTP server (aiosmtpd): the
school when its candidature is attributed, rejected or returned for correction and when its
renewal is granted or declined; the partner when its offer is chosen, once its referent is named.
One mail each, to the right people, in French with the facts and a link; never twice after a
redelivery, a replay or a restart. The work-meeting window an attribution sets is on the feed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar
from sqlalchemy import select

from jumelage_contracts import to_envelope
from notifications.adapters import db
from tests.integration.notifications.notif_events import PID, example, referents
from tests.integration.notifications.notif_harness import make_harness

UTC = timezone.utc
JULY = datetime(2025, 7, 4, 10, 0, tzinfo=UTC)
SCHOOL_MAILBOX = "ce.0750655e@ac-paris.fr"
SCHOOL_REF, PARTNER_REF = "claire.martin@ac-paris.fr", "y.lebrun@carnavalet.example.fr"
CANDIDATURE = "c0f5c2a2-6f1e-4c8e-9d55-1f2e3a4b5c6d"


@pytest.fixture(params=["postgres_url", "sqlite_url"])
def store_url(request) -> str:
    return request.getfixturevalue(request.param)


@pytest.fixture
async def h(store_url, smtp):
    harness = await make_harness(store_url, smtp, JULY, decisions=True,
                                 programmes_url="https://programmes.example.fr", portal_url="https://candidatures.example.fr")
    yield harness
    await harness.store.close()


async def decision_timers(h, rule: str):
    return await h.timers(rule=rule)


async def settle(h) -> None:
    """The scheduler's next pass, a little later (decisions are due at once)."""
    await h.move_to(h.clock.now() + timedelta(minutes=1))


async def test_an_attribution_tells_the_school_at_once_and_the_partner_once_its_referent_is_named(h, store_url, smtp) -> None:
    await h.play(example("CampaignOpened"))
    attribution = await h.play(example("PartnershipAttributed"))
    await settle(h)
    (mail,) = h.mailbox.messages
    assert h.mailbox.envelopes[0][1] == [SCHOOL_MAILBOX]  # no school referent yet: its functional mailbox
    assert h.mailbox.subject(mail) == \
        "Jumelage attribué : Ecole elementaire Belleville avec Musee Carnavalet - Histoire de Paris (2025-2026)"
    body = h.mailbox.body(mail)
    assert "attribué le jumelage entre Ecole elementaire Belleville et Musee Carnavalet" in body
    assert "vendredi 4 juillet 2025 à 12 h 00" in body  # the decision, local time
    assert "entre le lundi 15 septembre 2025 et le vendredi 17 octobre 2025" in body  # the work-meeting window
    assert "CM1 A" in body and "élèves" in body  # the classes attributed
    assert f"https://programmes.example.fr/partnerships/{PID}/page" in body
    assert "http://notif.test/ical/" in body
    # The partner has no mailbox of its own: its mail waits, visibly absent, for its referent.
    assert await decision_timers(h, "decision_offer_chosen") == []

    h.clock.set(datetime(2025, 9, 2, 7, 0, tzinfo=UTC))
    h.mailbox.clear()
    for event in referents():
        await h.play(event)
    await settle(h)
    (chosen,) = h.mailbox.messages
    assert h.mailbox.envelopes[0][1] == [PARTNER_REF]
    assert h.mailbox.subject(chosen) == \
        "Votre offre est retenue : jumelage avec Ecole elementaire Belleville (2025-2026)"
    assert "CM1 A" in h.mailbox.body(chosen) and "Bonjour Yannick Lebrun" in h.mailbox.body(chosen)

    # A redelivered attribution (same event id), the same decision replayed under a new id (a
    # republish), another partner referent named, and a restart: nothing is told twice.
    h.mailbox.clear()
    await h.deliver(attribution, example("PartnershipAttributed"))
    copy = to_envelope(example("PartnershipAttributed"), stream_id=attribution.stream_id,
                       occurred_at=attribution.occurred_at, correlation_id=uuid.uuid4(), academie="paris")
    await h.deliver(copy, example("PartnershipAttributed"))
    await h.play(example("ReferentDesignated", referent_id="ref-second", side="partner", role="coordinator",
                         name="Second Référent", email="second@carnavalet.example.fr", phone=None))
    await settle(h)
    restarted = await make_harness(store_url, smtp, h.clock.now(), decisions=True)
    try:
        await restarted.move_to(h.clock.now() + timedelta(days=1))
    finally:
        await restarted.store.close()
    assert [h.mailbox.subject(m) for m in h.mailbox.messages if "retenue" in h.mailbox.subject(m)
            or "attribué" in h.mailbox.subject(m)] == []
    sent = await h.events("ReminderSent")
    assert sorted(e.data["rule"] for e in sent if e.data["rule"].startswith("decision_")) == \
        ["decision_attributed", "decision_offer_chosen"]


async def test_a_partner_referent_known_before_the_attribution_arrives_is_told_with_the_school(h) -> None:
    await h.play(example("CampaignOpened"))
    for event in referents():  # programmes' stream ran ahead of candidatures'
        await h.play(event)
    await h.play(example("PartnershipAttributed"))
    await settle(h)
    told = {tuple(rcpts)[0]: h.mailbox.subject(m) for m, (_, rcpts) in zip(h.mailbox.messages, h.mailbox.envelopes)}
    assert told[SCHOOL_REF].startswith("Jumelage attribué") and told[PARTNER_REF].startswith("Votre offre est retenue")
    assert len(h.mailbox.messages) == 2


async def test_a_rejection_tells_the_school_mailbox_its_reason_once(h, store_url, smtp) -> None:
    await h.play(example("CampaignOpened"))
    await h.play(example("CandidatureSubmitted"))
    rejected = await h.play(example("CandidatureRejected"))
    await h.deliver(rejected, example("CandidatureRejected"))  # redelivered
    await settle(h)
    (mail,) = h.mailbox.messages
    assert h.mailbox.envelopes[0][1] == [SCHOOL_MAILBOX]
    assert h.mailbox.subject(mail) == "Candidature non retenue : " + example("CampaignOpened").title
    body = h.mailbox.body(mail)
    assert "Motif : Capacite des offres atteinte" in body and "Ecole elementaire Belleville" in body
    assert f"https://candidatures.example.fr/campaigns/{example('CampaignOpened').campaign_id}/page" in body
    restarted = await make_harness(store_url, smtp, h.clock.now(), decisions=True)
    try:
        await restarted.move_to(h.clock.now() + timedelta(days=2))
    finally:
        await restarted.store.close()
    assert len(h.mailbox.messages) == 1


async def test_a_return_for_correction_that_arrives_before_its_candidature_is_held_then_told(h) -> None:
    await h.play(example("CampaignOpened"))
    await h.play(example("CandidatureReturnedForCorrection"))  # its cause (who applied) not known yet
    async with h.store.engine.connect() as conn:
        held = (await conn.execute(select(db.parked.c.waiting_for))).scalars().all()
    assert held == [f"candidature:{CANDIDATURE}"]
    await settle(h)
    assert h.mailbox.messages == []
    await h.play(example("CandidatureSubmitted"))
    await settle(h)
    (mail,) = h.mailbox.messages
    assert h.mailbox.subject(mail) == "Candidature à corriger : " + example("CampaignOpened").title
    assert "À corriger : Preciser l'objectif de la classe de CM2 B" in h.mailbox.body(mail)


async def test_renewal_decisions_tell_the_referents_of_the_year_before_and_survive_the_end(h) -> None:
    await h.play(example("CampaignOpened"))
    await h.play(example("PartnershipAttributed"))
    for event in referents():
        await h.play(event)
    await settle(h)
    h.mailbox.clear()
    h.clock.set(datetime(2026, 7, 3, 9, 0, tzinfo=UTC))
    await h.play(example("RenewalGranted"))
    await settle(h)
    (granted,) = [m for m in h.mailbox.messages if h.mailbox.subject(m).startswith("Renouvellement")]
    assert sorted(h.mailbox.envelopes[h.mailbox.messages.index(granted)][1]) == sorted([SCHOOL_REF, PARTNER_REF])
    assert h.mailbox.subject(granted) == ("Renouvellement accordé : jumelage Ecole elementaire Belleville / "
                                          "Musee Carnavalet - Histoire de Paris (2026-2027)")
    assert "entre le lundi 14 septembre 2026 et le vendredi 16 octobre 2026" in h.mailbox.body(granted)


async def test_a_renewal_declined_is_told_even_when_the_partnership_ends_before_the_mail_goes(h) -> None:
    await h.play(example("CampaignOpened"))
    await h.play(example("PartnershipAttributed"))
    for event in referents():
        await h.play(event)
    await settle(h)
    h.mailbox.clear()
    h.clock.set(datetime(2026, 7, 3, 9, 0, tzinfo=UTC))
    await h.play(example("RenewalDeclined"))
    await h.play(example("PartnershipEnded"))  # programmes ends it, before the scheduler's next pass
    await settle(h)
    (declined,) = h.mailbox.messages
    assert sorted(h.mailbox.envelopes[0][1]) == sorted([SCHOOL_REF, PARTNER_REF])
    assert h.mailbox.subject(declined).startswith("Renouvellement refusé : jumelage Ecole elementaire Belleville")
    assert "(2026-2027)" in h.mailbox.subject(declined)
    assert "Motif : Bilan insuffisant" in h.mailbox.body(declined)


async def test_the_work_meeting_window_of_an_attribution_is_on_the_partnership_feed(h) -> None:
    await h.play(example("CampaignOpened"))
    await h.play(example("PartnershipAttributed"))
    from notifications.adapters import ical
    async with h.store.engine.connect() as conn:
        items = await db.items_for_feed(conn, "partnership", PID)
    calendar = Calendar.from_ical(ical.feed("Jumelage", items, h.clock.now()))
    (window,) = [e for e in calendar.walk("VEVENT") if str(e["uid"]).startswith("window-work-meeting-")]
    assert str(window["uid"]) == f"window-work-meeting-{PID}-2025-2026@jumelage.notifications"
    assert window.decoded("dtstart").isoformat() == "2025-09-15"
    assert window.decoded("dtend").isoformat() == "2025-10-18"  # exclusive: the window ends on the 17th
    assert str(window["summary"]) == "Période de la réunion de travail (Ecole elementaire Belleville)"


async def test_a_rebuild_tells_no_decision_again(h) -> None:
    from notifications.adapters.replay import ListLog
    from notifications.app.rebuild import rebuild, sources_of

    await h.play(example("CampaignOpened"))
    await h.play(example("CandidatureSubmitted", candidature_id="cand-b"))
    await h.play(example("CandidatureRejected", candidature_id="cand-b"))
    await h.play(example("PartnershipAttributed"))
    await settle(h)
    assert len(h.mailbox.messages) == 2
    before = {r.reminder_id: r.status for r in await h.timers(kind="decision")}
    assert set(before.values()) == {"sent"}
    h.clock.set(h.clock.now() + timedelta(days=1))
    await rebuild(h.store, ListLog(sources_of(h.played)), h.clock)
    await settle(h)
    assert len(h.mailbox.messages) == 2
    assert {r.reminder_id: r.status for r in await h.timers(kind="decision")} == before


async def test_a_reason_typed_with_markup_is_escaped_in_the_html_part_and_literal_in_the_text(h) -> None:
    reason = '<img src=x onerror="alert(1)"> Effectifs & objectifs à préciser'
    await h.play(example("CampaignOpened"))
    await h.play(example("CandidatureSubmitted"))
    await h.play(example("CandidatureRejected", reason=reason))
    await settle(h)
    (mail,) = h.mailbox.messages
    assert f"Motif : {reason}" in h.mailbox.body(mail)
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "<img" not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; Effectifs &amp; objectifs" in html


async def test_an_academie_reads_the_decision_rules_and_switches_one_off_over_http(h, smtp) -> None:
    import httpx

    from eventkit.auth import mint_token
    from eventkit.settings import DEV_SECRET, ServiceSettings
    from notifications.bootstrap import MailSettings, build

    settings = ServiceSettings.from_env("notifications", env={}, clock="manual", public_url="http://notif.test")
    app, _ = build(settings, clock=h.clock, store=h.store, mail=MailSettings(port=smtp.port), scheduler_enabled=False)
    paris = {"Authorization": f"Bearer {mint_token(DEV_SECRET, 'academie', 'paris')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://notif.test") as client:
        listed = (await client.get("/admin/rules/paris", params={"dispositif": "culture"}, headers=paris)).json()
        rules = {r["name"]: r for r in listed["rules"]}
        assert rules["decision_rejected"]["kind"] == "decision" and rules["decision_rejected"]["at"] is None
        assert rules["decision_offer_chosen"]["on"] == ["partner_referent_designated", "partnership_attributed"]
        switched = await client.put("/admin/rules/paris/*/decision_rejected", json={"enabled": False}, headers=paris)
        assert switched.status_code == 200
    await h.play(example("CampaignOpened"))
    await h.play(example("CandidatureSubmitted"))
    await h.play(example("CandidatureRejected"))
    await settle(h)
    assert h.mailbox.messages == [] and await h.timers(rule="decision_rejected") == []


async def test_a_cnr_project_without_partner_is_told_to_its_school_and_nobody_waits_for_a_partner(h) -> None:
    await h.play(example("CampaignOpened", dispositif="concertation"))
    await h.play(example("PartnershipAttributed", dispositif="concertation", partner=None, offer_id=None, tier=None))
    await settle(h)
    (mail,) = h.mailbox.messages
    assert h.mailbox.subject(mail) == "Jumelage attribué : Ecole elementaire Belleville (2025-2026)"
    assert "a attribué le projet de Ecole elementaire Belleville" in h.mailbox.body(mail)
    assert await h.timers(rule="decision_offer_chosen") == []
