"""One open campaign per académie, dispositif and school year, held on PostgreSQL even when the
openings are decided at the same moment."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from candidatures.adapters import read_model
from candidatures.adapters.read_model import MIGRATIONS
from candidatures.app.commands import CampaignInput, CandidaturesApp
from candidatures.app.executor import Context
from candidatures.bootstrap import build_runtime
from candidatures.domain.errors import StateConflict
from eventkit.auth import Principal
from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import open_store
from jumelage_contracts import Role
from jumelage_contracts.candidatures import CampaignCalendar
from jumelage_contracts.reference import Academie, Dispositif

from tests.integration.candidatures.candidatures_service import (
    ACADEMIE,
    BEFORE_DEADLINE,
    SECRET,
    calendar,
    campaign_body,
    running_service,
    set_clock,
)

pytestmark = pytest.mark.integration


async def test_concurrent_openings_over_http_give_one_open_campaign_then_409s(postgres_url, nats_url, subject_root):
    async with running_service(postgres_url, nats_url, subject_root) as http:
        await set_clock(http, BEFORE_DEADLINE)
        responses = await asyncio.gather(*(http.post("/campaigns", json=campaign_body("culture", f"camp-{i}"),
                                                     headers=ACADEMIE) for i in range(10)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 9, [r.text for r in responses]
        refused = {r.json()["rule"] for r in responses if r.status_code == 409}
        assert refused == {"one_open_campaign_per_dispositif_and_year"}
        listed = (await http.get("/campaigns?academie=paris", headers=ACADEMIE)).json()
        assert len(listed) == 1 and listed[0]["status"] == "open"
        winner = listed[0]["campaign_id"]
        other = await http.post("/campaigns", json=campaign_body("mercredi", "camp-m"), headers=ACADEMIE)
        assert other.status_code == 201
        assert (await http.post(f"/campaigns/{winner}/close", headers=ACADEMIE)).status_code == 200
        again = await http.post("/campaigns", json=campaign_body("culture", "camp-next"), headers=ACADEMIE)
        assert again.status_code == 201, again.text


async def test_the_database_refuses_the_second_opening_when_both_were_decided_blind(postgres_url, monkeypatch):
    """Both requests read "no open campaign" before either commits (forced here, so the race is
    not left to chance): PostgreSQL's unique index refuses the second row, the second request is
    decided again, sees the first campaign and is refused with the rule (409)."""
    real = read_model.open_campaign_for
    blind_reads = 2

    async def read_before_anyone_commits(conn, *args):
        nonlocal blind_reads
        if blind_reads > 0:
            blind_reads -= 1
            return None
        return await real(conn, *args)

    monkeypatch.setattr(read_model, "open_campaign_for", read_before_anyone_commits)
    settings = ServiceSettings.from_env("candidatures", env={}, database_url=postgres_url, jwt_secret=SECRET)
    store = await open_store(postgres_url, extra_migrations=[MIGRATIONS])
    try:
        app = CandidaturesApp(build_runtime(settings, store=store, clock=ManualClock(BEFORE_DEADLINE),
                                            consumers=False))
        principal = Principal(role=Role.academie, scope="paris", subject="daac-paris")
        body = campaign_body("culture", "x")

        async def open_(campaign_id: str):
            data = CampaignInput(Academie(body["academie"]), Dispositif(body["dispositif"]), body["school_year"],
                                 body["title"],
                                 CampaignCalendar.model_validate(calendar()), campaign_id)
            return await app.open_campaign(Context(principal, uuid.uuid4()), data)

        outcomes = await asyncio.gather(open_("camp-a"), open_("camp-b"), return_exceptions=True)
        opened = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert blind_reads == 0 and len(opened) == 1 and len(refused) == 1
        assert isinstance(refused[0], StateConflict) and refused[0].rule == "one_open_campaign_per_dispositif_and_year"
        loser = "camp-b" if opened[0].id == "camp-a" else "camp-a"
        assert await store.read_stream(f"campaign-{loser}") == []  # its events rolled back with its row
    finally:
        await store.close()
