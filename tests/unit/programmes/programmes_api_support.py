"""An in-process programmes app on the in-memory store, with tokens and candidatures' events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx

from eventkit.auth import mint_token
from eventkit.clock import ManualClock
from eventkit.memory import InMemoryEventStore
from eventkit.settings import ServiceSettings
from jumelage_contracts import to_envelope
from jumelage_contracts.candidatures import ClassEntry, PartnershipAttributed, RenewalDeclined, RenewalGranted
from programmes.app.policies import CandidaturesPolicies
from programmes.bootstrap import build_app, build_runtime
from programmes_builders import PARTNERS, SCHOOL, at, calendar

PID = "p-api-1"
UAI = SCHOOL.uai
PARTNER_ID = "musee-carnavalet"

CLASS_ENTRIES = [
    ClassEntry(class_id="cm1-a", label="CM1 A", level="CM1", pupils=24, objective="Carnet de visite"),
    ClassEntry(class_id="cm2-b", label="CM2 B", level="CM2", pupils=22, objective="Exposition photo"),
]


def attributed(pid: str = PID, dispositif: str = "culture") -> PartnershipAttributed:
    return PartnershipAttributed(
        partnership_id=pid, candidature_id=f"cand-{pid}", campaign_id="camp-paris-culture-2025-2026",
        dispositif=dispositif, tier="approfondir", school_year="2025-2026", year_index=1, school=SCHOOL,
        partner=PARTNERS[dispositif], offer_id="offer-carnavalet-2025", classes=CLASS_ENTRIES, calendar=calendar(2025))


def renewed(year_index: int, pid: str = PID) -> RenewalGranted:
    start = 2024 + year_index
    return RenewalGranted(
        partnership_id=pid, candidature_id=f"cand-{pid}", dispositif="culture", tier="jumelage",
        school_year=f"{start}-{start + 1}", year_index=year_index, school=SCHOOL, partner=PARTNERS["culture"],
        classes=CLASS_ENTRIES, calendar=calendar(start))


def declined(year_index: int, pid: str = PID) -> RenewalDeclined:
    start = 2024 + year_index
    return RenewalDeclined(partnership_id=pid, candidature_id=f"cand-{pid}", school_year=f"{start}-{start + 1}",
                           year_index=year_index, reason="Bilan insuffisant")


def envelope_of(event, stream_id: str = "candidature-1", academie: str = "paris"):
    return to_envelope(event, stream_id=stream_id, occurred_at=at(2025, 7, 4), correlation_id=uuid.uuid4(),
                       academie=academie)


@dataclass
class Harness:
    app: object
    store: InMemoryEventStore
    clock: ManualClock
    settings: ServiceSettings
    client: httpx.AsyncClient

    def token(self, role: str, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.settings.jwt_secret, role, scope)}"}

    @property
    def school(self) -> dict[str, str]:
        return self.token("school", UAI)

    @property
    def partner(self) -> dict[str, str]:
        return self.token("partner", PARTNER_ID)

    @property
    def academie(self) -> dict[str, str]:
        return self.token("academie", "paris")

    async def deliver(self, event, envelope=None) -> None:
        """As the kit's consumer would: the handler inside a store transaction."""
        policies = CandidaturesPolicies(self.app.state.programmes)
        async with self.store.transaction() as tx:
            await policies.on_event(tx, envelope or envelope_of(event), event)

    def set_time(self, when: datetime) -> None:
        self.clock.set(when)


def make_harness(snapshots: bool = True) -> Harness:
    settings = ServiceSettings.from_env("programmes", env={}, database_url="memory://")
    store = InMemoryEventStore()
    clock = ManualClock(at(2025, 9, 10))
    runtime = build_runtime(settings, store=store, clock=clock)
    app = build_app(runtime=runtime, consumers=False, snapshots=snapshots)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://programmes")
    return Harness(app=app, store=store, clock=clock, settings=settings, client=client)
