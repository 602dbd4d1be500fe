"""An ACM organiser's plan mercredi candidature with no school (seed 001: an accueil held in a
dedicated place) is taken in by notifications, on PostgreSQL and SQLite: remembered under the
organiser's name, with no school deadline on any calendar, and its rejection mails no school
mailbox (there is none; the organiser's own mail is not built yet — see candidatures' README)."""

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
