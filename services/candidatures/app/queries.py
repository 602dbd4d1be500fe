"""Queries: read tables for listings, the streams themselves for a candidature's history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from eventkit.auth import Principal, Role
from jumelage_contracts import parse_event
from jumelage_contracts.reference import timezone_of

from candidatures.adapters import read_model
from candidatures.domain import renewal
from candidatures.domain.errors import NotFound

from . import access
from .access import Forbidden
from .commands import candidature_stream
from .executor import reader_of


class CandidaturesQueries:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def _connect(self):
        return reader_of(self.runtime.store).connect()

    async def campaigns(self, **filters: str | None) -> list[dict]:
        async with self._connect() as conn:
            return await read_model.list_campaigns(conn, **filters)

    async def campaign(self, campaign_id: str) -> dict:
        async with self._connect() as conn:
            row = await read_model.one(conn, read_model.campaigns, campaign_id)
        if row is None:
            raise NotFound("campaign_must_exist", "no such campaign", "campaign_id")
        return row

    async def offers(self, **filters: str | None) -> list[dict]:
        async with self._connect() as conn:
            return await read_model.list_offers(conn, **filters)

    async def offer(self, offer_id: str) -> dict:
        async with self._connect() as conn:
            row = await read_model.one(conn, read_model.offers, offer_id)
        if row is None:
            raise NotFound("offer_must_exist", "no such offer", "offer_id")
        return row

    async def candidatures(self, principal: Principal, campaign_id: str, limit: int, offset: int,
                           **filters: str | None) -> dict:
        campaign = await self.campaign(campaign_id)
        filters.update(access.scope_filters(principal, campaign["academie"]))
        async with self._connect() as conn:
            total, rows = await read_model.list_candidatures(conn, campaign_id, limit=limit, offset=offset, **filters)
        return {"campaign_id": campaign_id, "total": total, "items": rows}

    async def candidature(self, principal: Principal, candidature_id: str) -> dict:
        async with self._connect() as conn:
            row = await read_model.one(conn, read_model.candidatures, candidature_id)
        if row is None:
            raise NotFound("candidature_must_exist", "no such candidature", "candidature_id")
        access.may_read_candidature(principal, row)
        envelopes = await self.runtime.store.read_stream(candidature_stream(candidature_id))
        history = [{"type": e.type, "version": e.stream_version, "occurred_at": e.occurred_at.isoformat(),
                    "actor": e.actor.model_dump(mode="json"), "event_id": str(e.id), "data": e.data}
                   for e in envelopes]
        row["partnership"] = _partnership(renewal.fold([parse_event(e) for e in envelopes]))
        row["history"] = history
        return row

    async def partnership(self, principal: Principal, partnership_id: str) -> dict:
        async with self._connect() as conn:
            cid = await read_model.candidature_of_partnership(conn, partnership_id)
        if cid is None:
            raise NotFound("partnership_must_exist", "no such partnership", "partnership_id")
        return await self.candidature(principal, cid)


def _partnership(state) -> dict | None:
    if isinstance(state, renewal.NotAPartnership):
        return None
    year = state.year
    stage = {renewal.Running: "running", renewal.RenewalPending: "renewal_requested", renewal.Ended: "ended"}
    return {
        "partnership_id": year.origin.partnership_id, "stage": stage[type(state)], "year_index": year.year_index,
        "school_year": year.school_year, "bilan_noted": year.bilan is not None,
        "wish_to_continue": year.bilan.wish_to_continue if year.bilan else None,
    }


PAGE_ROWS = 100
CALENDAR_LABELS = (("attribution_date", "Attribution"), ("work_meeting_window", "Réunion de travail école / partenaire"),
                   ("bilan_window", "Bilan"), ("renewal_deadline", "Demande de renouvellement"))


def _local(value: Any, academie: str) -> str:
    """A calendar value as a person of that académie reads it: instants in its own time zone."""
    if isinstance(value, dict):
        return f"du {_local(value.get('start'), academie)} au {_local(value.get('end'), academie)}"
    if isinstance(value, str) and "T" in value:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone_of(academie))
        return moment.strftime("%d/%m/%Y à %H:%M")
    if isinstance(value, str) and value:
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    return "—"


async def campaign_page(queries: CandidaturesQueries, principal: Principal, campaign_id: str) -> dict[str, Any]:
    """What the campaign's page shows this caller: the campaign, its calendar in the académie's
    time, its published offers and the candidatures the caller may see (an académie: all of its
    own; a school: its own; a partner: those for its offers; anyone else: none)."""
    campaign = await queries.campaign(campaign_id)
    academie = campaign["academie"]
    calendar = (campaign.get("data") or {}).get("calendar") or {}
    offers = await queries.offers(campaign_id=campaign_id, status="published")
    try:
        listing = await queries.candidatures(principal, campaign_id, limit=PAGE_ROWS, offset=0)
    except Forbidden:
        listing = {"total": 0, "items": []}
    heading = "Candidatures de l'académie" if principal.can_act_for(Role.academie, academie) else "Vos candidatures"
    return {
        "campaign": campaign,
        "status": {"open": "ouverte", "closed": "close"}.get(campaign["status"], campaign["status"]),
        "deadline": _local(campaign["submission_deadline"] or calendar.get("submission_deadline"), academie),
        "calendar": [(label, _local(calendar.get(key), academie)) for key, label in CALENDAR_LABELS if key in calendar],
        "offers": [{"title": (o["data"] or {}).get("title", o["offer_id"]),
                    "partner": ((o["data"] or {}).get("partner") or {}).get("name", o["partner_id"]),
                    "levels": ", ".join((o["data"] or {}).get("levels") or []),
                    "left": max(0, (o["capacity_classes"] or 0) - (o["reserved_classes"] or 0))}
                   for o in offers],
        "candidatures_heading": heading,
        "candidatures": listing["items"],
        "more": max(0, listing["total"] - len(listing["items"])),
    }
