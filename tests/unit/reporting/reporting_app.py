"""A reporting app on a SQLite store, with events applied directly (no NATS), for API tests."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from jumelage_contracts import Envelope
from jumelage_contracts.registry import model_for

from eventkit.auth import mint_token
from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import open_store
from reporting.app.live import apply_live
from reporting.bootstrap import MIGRATIONS, build_app, build_runtime

EXAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "jumelage_contracts" / "examples"

# The examples of the contracts, in an order that makes one partnership's story.
STORY = ["CampaignOpened", "OfferPublished", "CandidatureSubmitted", "CandidatureAmended", "CandidatureReviewed",
         "PartnershipAttributed", "ProgrammeYearOpened", "ReferentDesignated", "ConventionSigned",
         "MeetingScheduled", "MeetingHeld", "ActionScheduled", "ActionRescheduled", "ActionCompleted",
         "ActionCancelled", "BilanRecorded", "RenewalRequested", "RenewalGranted", "ReminderScheduled",
         "ReminderSent"]


def example_envelope(event_type: str, occurred_at: datetime, position: int, **overrides: Any) -> Envelope:
    data = {**json.loads((EXAMPLES / f"{event_type}.v1.json").read_text("utf-8")), **overrides}
    model = model_for(event_type)
    data = model.model_validate(data).model_dump(mode="json")
    return Envelope(type=event_type, source=model.SOURCE, stream_id=f"s-{event_type}", occurred_at=occurred_at,
                    correlation_id=uuid.uuid4(), academie=data.get("academie") or "paris", data=data,
                    position=position)


def story(start: datetime = datetime(2025, 7, 4, 10, tzinfo=timezone.utc)) -> list[Envelope]:
    return [example_envelope(t, start + timedelta(days=i), i + 1) for i, t in enumerate(STORY)]


def hostile_story(school_name: str, partner_name: str) -> list[Envelope]:
    """The contracts' story, with these names wherever an event carries the school or the partner."""
    start, envelopes = datetime(2025, 7, 4, 10, tzinfo=timezone.utc), []
    for i, event_type in enumerate(STORY):
        data = json.loads((EXAMPLES / f"{event_type}.v1.json").read_text("utf-8"))
        named = {key: dict(data[key], name=name) for key, name in (("school", school_name), ("partner", partner_name))
                 if isinstance(data.get(key), dict) and "name" in data[key]}
        envelopes.append(example_envelope(event_type, start + timedelta(days=i), i + 1, **named))
    return envelopes


@dataclass
class ReportingApp:
    client: httpx.AsyncClient
    settings: ServiceSettings
    store: Any

    def token(self, role: str, scope: str) -> str:
        return mint_token(self.settings.jwt_secret, role, scope)

    def auth(self, role: str = "academie", scope: str = "paris") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, scope)}"}

    async def apply(self, envelopes: list[Envelope]) -> None:
        for env in envelopes:
            async with self.store.engine.begin() as conn:
                await apply_live(conn, env)


async def reporting_app(database_url: str, now: datetime) -> ReportingApp:
    store = await open_store(database_url, extra_migrations=[MIGRATIONS])
    settings = ServiceSettings.from_env("reporting", env={}, database_url=database_url)
    runtime = build_runtime(settings, store=store, clock=ManualClock(now))
    runtime.engine = store.engine  # what start() would set; the tests do not start NATS
    app = build_app(settings, runtime=runtime)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting")
    return ReportingApp(client, settings, store)
