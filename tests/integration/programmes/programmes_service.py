"""The programmes service as a real process (``python -m programmes``) on real PostgreSQL and NATS,
and a stand-in for the candidatures relay: envelopes published onto JetStream as it would."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from eventkit.auth import mint_token
from eventkit.bus import NatsConnection, StreamLimits, provision
from jumelage_contracts import Envelope, to_envelope
from jumelage_contracts.candidatures import (
    CampaignCalendar,
    CampaignOpened,
    ClassEntry,
    DateWindow,
    PartnershipAttributed,
    PartnerRef,
    RenewalDeclined,
    RenewalGranted,
    SchoolRef,
)
from jumelage_contracts.subjects import SOURCES, dead_letter_stream, event_subject, stream_name
from tests.infra.processes import free_port, service_process
from tests.waiting import eventually  # noqa: F401 - re-exported for the tests of this folder

ROOT = Path(__file__).resolve().parents[3]
SECRET = "programmes-integration-secret-32-bytes-long"
UTC = timezone.utc
UAI = "0750655E"
PARTNER_ID = "musee-carnavalet"


def auth(role: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, role, scope)}"}


ADMIN = auth("admin", "*")
ACADEMIE = auth("academie", "paris")
SCHOOL = auth("school", UAI)
PARTNER = auth("partner", PARTNER_ID)


def at(y: int, m: int, d: int, h: int = 9) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


@asynccontextmanager
async def running_service(database_url: str, nats_url: str, subject_root: str) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``python -m programmes``, wait for /readyz, yield an HTTP client on it, stop it."""
    port = free_port()
    env = {"PROGRAMMES_DATABASE_URL": database_url, "NATS_URL": nats_url, "NATS_SUBJECT_ROOT": subject_root,
           "PROGRAMMES_PORT": str(port), "JWT_SECRET": SECRET, "CLOCK": "manual", "LOG_LEVEL": "WARNING"}
    async with service_process("programmes", env, port) as client:
        yield client


async def set_clock(client: httpx.AsyncClient, when: datetime) -> None:
    r = await client.post("/admin/clock", json={"now": when.isoformat()}, headers=ADMIN)
    assert r.status_code == 200, r.text


@asynccontextmanager
async def nats_for(url: str, root: str) -> AsyncIterator[NatsConnection]:
    """A NATS connection with the streams of ``root`` provisioned (deleted afterwards)."""
    nats = NatsConnection(url, name="programmes-test")
    await nats.start()
    assert await nats.wait_connected(5), f"no NATS at {url}"
    await provision(nats, root, limits=StreamLimits())
    try:
        yield nats
    finally:
        if nats.connected:
            for stream in [*(stream_name(s, root) for s in SOURCES), dead_letter_stream(root)]:
                try:
                    await nats.js.delete_stream(stream)
                except Exception:  # noqa: BLE001 - best effort cleanup of a shared server
                    pass
        await nats.close()


async def publish(nats: NatsConnection, root: str, envelope: Envelope) -> None:
    """What the candidatures relay does: headers + body on the event's subject."""
    headers, body = envelope.to_nats()
    await nats.js.publish(event_subject(envelope, root), body, headers=headers)


async def stream_types(nats: NatsConnection, stream: str) -> list[str]:
    """The event types a stream holds, in order."""
    info = await nats.js.stream_info(stream)
    total = info.state.messages
    if total == 0:
        return []
    sub = await nats.js.pull_subscribe("", stream=stream, config=ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=5))
    out: list[Any] = []
    try:
        deadline = time.monotonic() + 10
        while len(out) < total and time.monotonic() < deadline:
            try:
                out.extend(await sub.fetch(min(500, total - len(out)), timeout=0.5))
            except asyncio.TimeoutError:
                pass
    finally:
        await sub.unsubscribe()
    return [m.headers.get("Jumelage-Type") for m in out]


# -- candidatures' events ------------------------------------------------------------------------

SCHOOL_REF = SchoolRef(uai=UAI, name="Ecole elementaire Belleville", academie="paris", departement="75",
                       commune="Paris 20e", education_prioritaire="REP+", ruralite="grands_centres_urbains")
PARTNER_REF = PartnerRef(partner_id=PARTNER_ID, kind="cultural_structure", name="Musee Carnavalet")
CLASSES = [ClassEntry(class_id="cm1-a", label="CM1 A", level="CM1", pupils=24, objective="Carnet de visite"),
           ClassEntry(class_id="cm2-b", label="CM2 B", level="CM2", pupils=22, objective="Exposition photo")]


def calendar(start: int) -> CampaignCalendar:
    return CampaignCalendar(
        submission_deadline=at(start, 5, 31), attribution_date=date(start, 7, 4),
        work_meeting_window=DateWindow(start=date(start, 9, 15), end=date(start, 10, 17)),
        bilan_window=DateWindow(start=date(start + 1, 5, 11), end=date(start + 1, 6, 19)),
        renewal_deadline=at(start + 1, 6, 26))


def candidatures_envelope(event, pid: str) -> Envelope:
    return to_envelope(event, stream_id=f"candidature-{pid}", occurred_at=datetime.now(UTC),
                       correlation_id=uuid.uuid4(), academie="paris")


def attribution(pid: str, start: int = 2025, dispositif: str = "culture") -> Envelope:
    """A culture jumelage with the Musee Carnavalet; a CNR project (``concertation``) has no partner."""
    culture = dispositif == "culture"
    return candidatures_envelope(PartnershipAttributed(
        partnership_id=pid, candidature_id=f"cand-{pid}", campaign_id=f"camp-paris-{dispositif}-{start}",
        dispositif=dispositif, tier="approfondir" if culture else None, school_year=f"{start}-{start + 1}",
        year_index=1, school=SCHOOL_REF, partner=PARTNER_REF if dispositif != "concertation" else None,
        offer_id="offer-carnavalet" if culture else None, classes=CLASSES, calendar=calendar(start)), pid)


def renewal_granted(pid: str, year_index: int, first: int = 2025) -> Envelope:
    start = first + year_index - 1
    return candidatures_envelope(RenewalGranted(
        partnership_id=pid, candidature_id=f"cand-{pid}", dispositif="culture", tier="jumelage",
        school_year=f"{start}-{start + 1}", year_index=year_index, school=SCHOOL_REF, partner=PARTNER_REF,
        classes=CLASSES, calendar=calendar(start)), pid)


def renewal_declined(pid: str, year_index: int, first: int = 2025) -> Envelope:
    start = first + year_index - 1
    return candidatures_envelope(RenewalDeclined(
        partnership_id=pid, candidature_id=f"cand-{pid}", school_year=f"{start}-{start + 1}",
        year_index=year_index, reason="Programme mene sur trois ans, pas de quatrieme annee"), pid)


def campaign_opened(start: int = 2026) -> Envelope:
    return to_envelope(CampaignOpened(
        campaign_id=f"camp-paris-culture-{start}", academie="paris", dispositif="culture",
        school_year=f"{start}-{start + 1}", title="Jumelages culture", calendar=calendar(start), opened_by="daac-paris"),
        stream_id=f"campaign-camp-paris-culture-{start}", occurred_at=datetime.now(UTC), correlation_id=uuid.uuid4(),
        academie="paris")
