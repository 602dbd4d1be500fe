"""The candidatures service as a real process (``python -m candidatures``) on real PostgreSQL and
NATS, plus the request bodies of a campaign per dispositif and a reader of its JetStream stream."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import httpx
from eventkit.auth import mint_token

from tests.infra.processes import free_port, service_process
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]
SECRET = "candidatures-integration-secret-32-bytes-long"
UTC = timezone.utc
# The campaign year and the moments the test clock is moved to.
YEAR = 2027
BEFORE_DEADLINE = datetime(YEAR, 3, 1, 9, tzinfo=UTC)
AFTER_DEADLINE = datetime(YEAR, 6, 20, 9, tzinfo=UTC)
IN_RENEWAL_WINDOW = datetime(YEAR + 1, 6, 1, 9, tzinfo=UTC)
IN_WORK_MEETING_WINDOW = datetime(YEAR, 10, 1, 9, tzinfo=UTC)  # after the attribution date: late


def auth(role: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, role, scope)}"}


ADMIN = auth("admin", "*")
ACADEMIE = auth("academie", "paris")
SCHOOL = auth("school", "0750655E")
COLLEGE = auth("school", "0750100B")


@asynccontextmanager
async def running_service(database_url: str, nats_url: str, subject_root: str,
                          **extra_env: str) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``python -m candidatures`` (``extra_env`` added to its environment), wait for
    /readyz, yield an HTTP client on it, stop it."""
    port = free_port()
    env = {"CANDIDATURES_DATABASE_URL": database_url, "NATS_URL": nats_url, "NATS_SUBJECT_ROOT": subject_root,
           "CANDIDATURES_PORT": str(port), "JWT_SECRET": SECRET, "CLOCK": "manual", "LOG_LEVEL": "WARNING",
           **extra_env}
    async with service_process("candidatures", env, port) as client:
        yield client


def metric(text: str, name: str, labels: str) -> float:
    """The value of ``name{labels}`` on a /metrics page."""
    prefix = f"{name}{{{labels}}} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    raise AssertionError(f"{prefix!r} not on /metrics")


async def set_clock(client: httpx.AsyncClient, when: datetime) -> None:
    r = await client.post("/admin/clock", json={"now": when.isoformat()}, headers=ADMIN)
    assert r.status_code == 200, r.text


def calendar() -> dict:
    return {
        "submission_deadline": datetime(YEAR, 5, 31, 21, 59, tzinfo=UTC).isoformat(),
        "attribution_date": date(YEAR, 7, 4).isoformat(),
        "work_meeting_window": {"start": date(YEAR, 9, 15).isoformat(), "end": date(YEAR, 10, 16).isoformat()},
        "bilan_window": {"start": date(YEAR + 1, 5, 10).isoformat(), "end": date(YEAR + 1, 6, 18).isoformat()},
        "renewal_deadline": datetime(YEAR + 1, 6, 25, 21, 59, tzinfo=UTC).isoformat(),
    }


def campaign_body(dispositif: str, campaign_id: str) -> dict:
    return {"campaign_id": campaign_id, "academie": "paris", "dispositif": dispositif,
            "school_year": f"{YEAR}-{YEAR + 1}", "title": f"Appel {dispositif} {YEAR}-{YEAR + 1}",
            "calendar": calendar()}


PARTNER_KIND = {"culture": "cultural_structure", "entreprise": "company", "mercredi": "association",
                "centre_social": "social_centre", "concertation": "association"}


def offer_body(dispositif: str, offer_id: str, capacity: int = 4) -> dict:
    levels = ["5e", "4e", "3e", "2de"] if dispositif == "entreprise" else ["CE2", "CM1", "CM2"]
    resources = ([{"kind": "observation_internship", "description": "Stage d'observation de 3e"},
                  {"kind": "company_visit", "description": "Visite de l'atelier de production"}]
                 if dispositif == "entreprise" else [{"kind": "workshop", "description": "Ateliers de pratique"}])
    return {"offer_id": offer_id, "title": f"Offre {dispositif}",
            "partner": {"partner_id": f"partner-{dispositif}", "kind": PARTNER_KIND[dispositif],
                        "name": f"Partenaire {dispositif}", "siret": "12345678900011",
                        "address": "1 rue de la Paix", "commune": "Paris", "postcode": "75002"},
            "resources": resources, "eac_domains": [11], "levels": levels, "audiences": ["pupils", "families"],
            "time_slots": ["scolaire", "periscolaire"], "capacity_classes": capacity}


SCHOOL_JSON = {"uai": "0750655E", "name": "Ecole elementaire Belleville", "academie": "paris", "departement": "75",
               "education_prioritaire": "REP+", "ruralite": "grands_centres_urbains"}
COLLEGE_JSON = {"uai": "0750100B", "name": "College Jean Jaures", "academie": "paris", "departement": "75",
                "education_prioritaire": "REP"}


def candidature_body(dispositif: str, candidature_id: str, offer_id: str | None, levels=("CM1", "CM2")) -> dict:
    school = COLLEGE_JSON if dispositif == "entreprise" else SCHOOL_JSON
    if dispositif == "entreprise":
        levels = ("3e", "4e")[: len(levels)]
    body: dict = {
        "candidature_id": candidature_id, "school": school, "school_objective": "Ouvrir l'etablissement",
        "classes": [{"class_id": f"{candidature_id}-{i}", "label": f"{lv} {i}", "level": lv, "pupils": 23,
                     "objective": f"Objectif {lv}"} for i, lv in enumerate(levels)],
        "wishes": {"periscolaire": dispositif == "mercredi", "staff": True, "families": True},
    }
    if offer_id:
        body["offer_id"] = offer_id
    if dispositif == "culture":
        body["tier"] = "approfondir"
    if dispositif == "entreprise":
        body["partner_company"] = {"name": "Partenaire entreprise", "siret": "12345678900011",
                                   "partner_id": "partner-entreprise"}
    if dispositif == "concertation":
        body["concertation"] = {
            "concertation_summary": "Concertation avec les familles, les elus et les associations du quartier",
            "pedagogical_project": "Un jardin pedagogique dans la cour",
            "funding": {"amount_eur": 3000, "budget_lines": [{"label": "Outils", "amount_eur": 1000},
                                                              {"label": "Plants", "amount_eur": 2000}]}}
    return body


async def stream_events(nats_url: str, stream: str, expected: int, timeout: float = 15.0) -> list:
    """Every message of a JetStream stream, read with nats-py, waiting until ``expected`` are there."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def stored() -> int:
            try:
                return (await js.stream_info(stream)).state.messages
            except Exception:  # noqa: BLE001 - the stream may not be provisioned yet
                return 0

        async def all_there() -> bool:
            return await stored() >= expected

        try:
            await eventually(all_there, timeout=timeout, what=f"{expected} messages in {stream}")
        except AssertionError:
            pass  # read what is there: the caller's comparison shows what is missing
        total = await stored()
        if total == 0:
            return []
        sub = await js.pull_subscribe("", stream=stream, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=5))
        messages: list = []
        while len(messages) < total:
            try:
                batch = await sub.fetch(min(500, total - len(messages)), timeout=1)
            except asyncio.TimeoutError:
                break
            if not batch:
                break
            messages.extend(batch)
        await sub.unsubscribe()
        return messages
    finally:
        await nc.close()
