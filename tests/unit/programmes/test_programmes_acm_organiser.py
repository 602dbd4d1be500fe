"""A plan mercredi partnership held by an ACM organiser with no school (seed 001: the ACM takes
place « au sein des écoles ou dans des lieux spécifiquement dédiés », the school being one
partner among others): the organiser holds the school side — its groups of children are the
year's classes, its places are shown, it acts with its partner token for that side."""

from __future__ import annotations

from dataclasses import replace

import pytest

from jumelage_contracts.candidatures import AcmPlace, ChildGroup, ClassEntry, Organiser, PartnershipAttributed
from jumelage_contracts.programmes import ProgrammeClass
from programmes.domain import decide, fold
from programmes_api_support import make_harness
from programmes_builders import PARTNERS, at, calendar, open_year

PID = "p-acm-1"
ORGANISER = Organiser(
    partner_id="acm-belleville", kind="association", name="Association Loisirs Belleville", academie="paris",
    departement="75", commune="Paris", email="contact@loisirs-belleville.test",
    places=[AcmPlace(kind="dedicated", name="Centre de loisirs des Couronnes", address="12 rue des Couronnes",
                     commune="Paris")],
    groups=[ChildGroup(group_id="petits", age_min=6, age_max=8, children=24)])
GROUPS = [ClassEntry(class_id="petits", label="ACM 6-8 ans", level="CP", pupils=24,
                     objective="Lire et raconter des histoires")]
PART = {"satisfaction": 4, "wish_to_continue": True}


def organiser_year(year_index: int = 1, organiser=ORGANISER, start_year: int = 2025):
    return replace(open_year("mercredi", year_index=year_index, start_year=start_year,
                             classes=(ProgrammeClass(class_id="petits", label="ACM 6-8 ans", level="CP", pupils=24),)),
                   school=None, organiser=organiser)


def test_a_year_opens_for_an_organiser_without_a_school():
    [opened] = decide(organiser_year(), fold([]))
    assert opened.school is None and opened.organiser == ORGANISER
    identity = fold([opened]).identity
    assert (identity.uai, identity.uais, identity.organiser_id, identity.academie) == (
        None, (), "acm-belleville", "paris")


def test_a_renewal_keeps_the_organiser_when_the_grant_does_not_restate_it():
    history = decide(organiser_year(), fold([]))
    events = decide(organiser_year(2, organiser=None, start_year=2026), fold(history))
    assert [e.type for e in events] == ["ProgrammeYearClosed", "ProgrammeYearOpened"]
    assert events[1].organiser == ORGANISER and events[1].school is None


def attributed() -> PartnershipAttributed:
    return PartnershipAttributed(
        partnership_id=PID, candidature_id="acm-1", campaign_id="camp-mercredi", dispositif="mercredi",
        school_year="2025-2026", year_index=1, school=None, organiser=ORGANISER, partner=PARTNERS["mercredi"],
        classes=GROUPS, calendar=calendar(2025))


@pytest.fixture
async def h():
    harness = make_harness()
    await harness.deliver(attributed())
    yield harness
    await harness.client.aclose()


async def test_the_organiser_acts_for_the_school_side_with_its_partner_token(h):
    organiser = h.token("partner", "acm-belleville")
    r = await h.client.get(f"/partnerships/{PID}", headers=organiser)
    assert r.status_code == 200, r.text
    view = r.json()
    assert (view["uai"], view["organiser"]["name"]) == (None, "Association Loisirs Belleville")
    assert view["organiser"]["places"][0]["kind"] == "dedicated"
    assert [c["label"] for c in view["current_year"]["classes"]] == ["ACM 6-8 ans"]
    r = await h.client.post(f"/partnerships/{PID}/referents", headers=organiser, json={
        "side": "school", "role": "coordinator", "name": "Samia Benali", "email": "samia@loisirs-belleville.test"})
    assert r.status_code == 201, r.text
    r = await h.client.post(f"/partnerships/{PID}/convention/signatures", headers=organiser,
                            json={"side": "school", "signed_by": "Samia Benali"})
    assert r.status_code == 201, r.text
    listed = (await h.client.get("/partnerships", headers=organiser)).json()
    assert [p["partnership_id"] for p in listed["items"]] == [PID]


async def test_the_organiser_does_not_act_for_the_partner_side_nor_does_the_partner_for_the_organiser(h):
    organiser = h.token("partner", "acm-belleville")
    r = await h.client.post(f"/partnerships/{PID}/convention/signatures", headers=organiser,
                            json={"side": "partner", "signed_by": "Samia Benali"})
    assert r.status_code == 403
    library = h.token("partner", PARTNERS["mercredi"].partner_id)
    r = await h.client.post(f"/partnerships/{PID}/convention/signatures", headers=library,
                            json={"side": "school", "signed_by": "Médiathèque"})
    assert r.status_code == 403
    r = await h.client.post(f"/partnerships/{PID}/bilan/partner", json=PART, headers=organiser)
    assert r.status_code == 403


@pytest.mark.parametrize("scope", ["0750655E", "acm-autre"])
async def test_no_school_and_no_other_organiser_sees_it(h, scope):
    role = "school" if scope[0].isdigit() else "partner"
    assert (await h.client.get(f"/partnerships/{PID}", headers=h.token(role, scope))).status_code == 403


async def test_the_page_shows_the_organiser_and_its_places(h):
    organiser = h.token("partner", "acm-belleville")
    await h.client.post(f"/partnerships/{PID}/referents", headers=organiser, json={
        "side": "school", "role": "coordinator", "name": "Samia Benali", "email": "samia@loisirs-belleville.test"})
    page = await h.client.get(f"/partnerships/{PID}/page", headers=organiser)
    assert page.status_code == 200, page.text
    assert "Association Loisirs Belleville" in page.text and "12 rue des Couronnes" in page.text
    assert "Organisateur de l&#39;ACM" in page.text or "Organisateur de l'ACM" in page.text
    assert "école None" not in page.text
