"""Queries: read tables for listings, the streams themselves for a candidature's history."""

from __future__ import annotations

from typing import Any

from eventkit.auth import Principal
from jumelage_contracts import parse_event

from candidatures.adapters import read_model
from candidatures.domain import renewal
from candidatures.domain.errors import NotFound

from . import access
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
