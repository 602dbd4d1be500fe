"""An ACM organiser's plan mercredi candidature with no school (seed 001: an accueil held in a
dedicated place) is taken in by notifications, on PostgreSQL and SQLite: remembered under the
organiser's name, with no school deadline on any calendar; its decisions and the reminders of its
partnership go to the organiser's own contact e-mail (there is no school mailbox), and the
work-meeting window is on the partnership's feed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from notifications.adapters import db
from tests.integration.notifications.notif_events import example
from tests.integration.notifications.notif_harness import make_harness

UTC = timezone.utc
MAY = datetime(2025, 5, 4, 10, 0, tzinfo=UTC)
ORGANISER = {
    "partner_id": "acm-belleville", "kind": "commune", "name": "Ville de Belleville-sur-Test",
    "academie": "paris", "departement": "75", "commune": "Paris",
    "places": [{"kind": "dedicated", "name": "Centre de loisirs", "address": "12 rue des Envierges"}],
    "groups": [{"group_id": "petits", "age_min": 6, "age_max": 8, "children": 24}],
}
CONTACT = "contact@belleville-loisirs.test"


@pytest.fixture(params=["postgres_url", "sqlite_url"])
def store_url(request) -> str:
    return request.getfixturevalue(request.param)


@pytest.fixture
async def h(store_url, smtp):
    harness = await make_harness(store_url, smtp, MAY, decisions=True)
    yield harness
    await harness.store.close()


async def test_an_organiser_candidature_without_a_school_is_remembered_and_mails_no_school(h) -> None:
    await h.play(example("CampaignOpened", dispositif="mercredi"))
    submitted = example("CandidatureSubmitted", dispositif="mercredi", school=None, classes=[], tier=None,
                        organiser=ORGANISER)
    await h.play(submitted)
    async with h.store.engine.connect() as conn:
        row = (await conn.execute(select(db.candidatures))).one()
        items = (await conn.execute(select(db.calendar_items))).all()
        held = (await conn.execute(select(db.parked))).all()
    assert (row.uai, row.school_name, row.academie) == (None, "Ville de Belleville-sur-Test", "paris")
    assert held == [] and [i for i in items if i.kind == "deadline"] == []
    await h.play(example("CandidatureRejected"))
    await h.move_to(h.clock.now() + timedelta(minutes=1))
    assert not any("ce." in address for _, rcpts in h.mailbox.envelopes for address in rcpts)


async def test_the_organiser_is_told_its_rejection_on_its_own_contact_email(h) -> None:
    await h.play(example("CampaignOpened", dispositif="mercredi"))
    await h.play(example("CandidatureSubmitted", dispositif="mercredi", school=None, classes=[], tier=None,
                         organiser={**ORGANISER, "email": CONTACT}))
    await h.play(example("CandidatureRejected"))
    await h.move_to(h.clock.now() + timedelta(minutes=1))
    (rejected,) = h.mailbox.to(CONTACT)
    assert h.mailbox.subject(rejected).startswith("Candidature non retenue")
    assert "Ville de Belleville-sur-Test" in h.mailbox.body(rejected)


async def test_a_partnership_without_a_school_tells_and_reminds_its_organiser(h) -> None:
    from icalendar import Calendar

    from notifications.adapters import ical

    h.clock.set(datetime(2025, 7, 4, 10, 0, tzinfo=UTC))
    await h.play(example("CampaignOpened", dispositif="mercredi"))
    attributed = example("PartnershipAttributed", dispositif="mercredi", school=None, tier=None,
                         organiser={**ORGANISER, "email": CONTACT})
    await h.play(attributed)
    await h.move_to(h.clock.now() + timedelta(minutes=1))
    (told,) = h.mailbox.to(CONTACT)
    assert h.mailbox.subject(told).startswith("Jumelage attribué : Ville de Belleville-sur-Test")
    assert not any("ce." in address for _, rcpts in h.mailbox.envelopes for address in rcpts)
    async with h.store.engine.connect() as conn:
        items = await db.items_for_feed(conn, "partnership", attributed.partnership_id)
        year = (await conn.execute(select(db.partnerships))).one()
    assert (year.uai, year.school_name, year.contact_email) == (None, "Ville de Belleville-sur-Test", CONTACT)
    calendar = Calendar.from_ical(ical.feed("Jumelage", items, h.clock.now()))
    (window,) = [e for e in calendar.walk("VEVENT") if str(e["uid"]).startswith("window-work-meeting-")]
    assert str(window["summary"]) == "Période de la réunion de travail (Ville de Belleville-sur-Test)"
    h.mailbox.clear()
    await h.move_to(datetime(2025, 9, 15, 8, 1, tzinfo=UTC))  # the work-meeting window opens
    assert any(h.mailbox.subject(m).startswith("Jumelage Ville de Belleville-sur-Test")
               for m in h.mailbox.to(CONTACT)), h.mailbox.subjects()
