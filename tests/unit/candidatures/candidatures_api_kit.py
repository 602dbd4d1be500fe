"""An in-process candidatures app on a SQLite store (no NATS: the lifespan is not run) and the
JSON bodies a real client would send."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx

from eventkit.auth import mint_token
from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import open_store

from candidatures.adapters.read_model import MIGRATIONS
from candidatures.bootstrap import build_app, build_runtime

from candidatures_builders import BEFORE_DEADLINE, calendar

SECRET = "candidatures-test-secret-of-32-bytes-or-more"


def token(role: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, role, scope)}"}


ACADEMIE = token("academie", "paris")
OTHER_ACADEMIE = token("academie", "creteil")
SCHOOL = token("school", "0750655E")
COLLEGE = token("school", "0750100B")
PARTNER = token("partner", "musee-carnavalet")
NATIONAL = token("national", "*")


@asynccontextmanager
async def candidatures_client(database_url: str):
    clock = ManualClock(BEFORE_DEADLINE)
    settings = ServiceSettings.from_env("candidatures", env={}, database_url=database_url, jwt_secret=SECRET)
    store = await open_store(database_url, extra_migrations=[MIGRATIONS])
    runtime = build_runtime(settings, store=store, clock=clock, consumers=False)
    app = build_app(runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://candidatures") as client:
        client.clock = clock  # type: ignore[attr-defined]
        client.runtime = runtime  # type: ignore[attr-defined]
        client.app_commands = app.state.candidatures  # type: ignore[attr-defined]
        try:
            yield client
        finally:
            await store.close()


def campaign_body(dispositif: str = "culture", campaign_id: str = "camp-1", academie: str = "paris") -> dict:
    return {"campaign_id": campaign_id, "academie": academie, "dispositif": dispositif, "school_year": "2025-2026",
            "title": f"Jumelages {dispositif} 2025-2026", "calendar": calendar().model_dump(mode="json")}


def offer_body(capacity: int = 4, offer_id: str = "offer-1", kind: str = "cultural_structure",
               partner_id: str = "musee-carnavalet", levels=("CE2", "CM1", "CM2", "5e", "4e", "3e")) -> dict:
    return {"offer_id": offer_id, "title": "Le musee comme salle de classe",
            "partner": {"partner_id": partner_id, "kind": kind, "name": "Musee Carnavalet",
                        "address": "23 rue de Sevigne", "commune": "Paris", "postcode": "75003"},
            "resources": [{"kind": "visit", "description": "Visites commentees"}], "eac_domains": [13],
            "levels": list(levels), "audiences": ["pupils", "families"], "time_slots": ["scolaire"],
            "capacity_classes": capacity}


SCHOOL_JSON = {"uai": "0750655E", "name": "Ecole elementaire Belleville", "academie": "paris", "departement": "75",
               "education_prioritaire": "REP+", "ruralite": "grands_centres_urbains"}
COLLEGE_JSON = {"uai": "0750100B", "name": "College Jean Jaures", "academie": "paris", "departement": "75",
                "education_prioritaire": "REP"}


def classes_json(*levels: str, pupils: int = 24) -> list[dict]:
    return [{"class_id": f"c{i}", "label": f"{lv} {i}", "level": lv, "pupils": pupils,
             "objective": f"Objectif de la classe {lv}"} for i, lv in enumerate(levels)]


def candidature_body(dispositif: str = "culture", candidature_id: str | None = None, classes=("CM1", "CM2"),
                     offer_id: str | None = "offer-1") -> dict:
    body: dict = {"school": SCHOOL_JSON, "classes": classes_json(*classes),
                  "school_objective": "Ouvrir l'ecole sur son quartier",
                  "wishes": {"periscolaire": True, "staff": False, "families": True}}
    if candidature_id:
        body["candidature_id"] = candidature_id
    if offer_id:
        body["offer_id"] = offer_id
    if dispositif == "culture":
        body["tier"] = "approfondir"
    elif dispositif == "entreprise":
        body.update(school=COLLEGE_JSON, classes=classes_json("3e", "4e"), offer_id=offer_id,
                    partner_company={"name": "Boulangerie du 20e", "siret": "12345678900011"})
    elif dispositif == "concertation":
        body["concertation"] = {
            "concertation_summary": "Trois reunions avec familles, elus et associations",
            "pedagogical_project": "Vegetaliser la cour",
            "funding": {"amount_eur": 4500, "budget_lines": [{"label": "Plantations", "amount_eur": 3000},
                                                              {"label": "Mobilier", "amount_eur": 1500}]}}
    elif dispositif in ("mercredi", "centre_social") and not offer_id:
        body["partner_wished"] = {"partner_id": "centre-social-belleville", "kind": "social_centre",
                                  "name": "Centre social Belleville"}
    return body


ORGANISER = token("partner", "acm-belleville")
DEDICATED_PLACE_JSON = {"kind": "dedicated", "name": "Centre de loisirs des Envierges",
                        "address": "12 rue des Envierges", "commune": "Paris", "postcode": "75020"}
SCHOOL_PLACE_JSON = {"kind": "school", "uai": "0750712S", "name": "Ecole maternelle Ramponeau"}


def organiser_body(candidature_id: str | None = None, school: dict | None = SCHOOL_JSON,
                   places=(DEDICATED_PLACE_JSON,), offer_id: str | None = None) -> dict:
    """An ACM organiser's candidature to a plan mercredi campaign: its structure, place(s) and groups
    by age band, no classes; ``school`` the partner school (optional)."""
    body: dict = {
        "school_objective": "Projet educatif : decouvrir le livre et l'image",
        "organiser": {"partner_id": "acm-belleville", "kind": "association", "name": "Association Loisirs Belleville",
                      "siret": "12345678900029", "academie": "paris", "departement": "75", "commune": "Paris",
                      "postcode": "75020", "places": list(places),
                      "groups": [{"group_id": "maternelle", "age_min": 3, "age_max": 5, "children": 16},
                                 {"group_id": "petits", "age_min": 6, "age_max": 8, "children": 24},
                                 {"group_id": "grands", "age_min": 9, "age_max": 11, "children": 20}]},
    }
    if school is not None:
        body["school"] = school
    if candidature_id:
        body["candidature_id"] = candidature_id
    if offer_id:
        body["offer_id"] = offer_id
    else:
        body["partner_wished"] = {"partner_id": "mediatheque-20", "kind": "cultural_structure", "name": "Mediatheque"}
    return body
