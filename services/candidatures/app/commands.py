"""Command handlers: load the streams a decision needs, check who asks, decide, append.

Streams: ``campaign-<id>``, ``offer-<id>``, ``candidature-<id>`` (the partnership continues on its
candidature's stream after attribution).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from eventkit.auth import Principal
from eventkit.http import event_refs
from eventkit.store import ConcurrencyError
from jumelage_contracts import Role
from jumelage_contracts.candidatures import CampaignCalendar, ClassEntry, PartnerRef
from jumelage_contracts.reference import Academie, Avis, CultureTier, Dispositif

from candidatures.adapters import read_model
from candidatures.domain import attribution, campaign, candidature, offer, renewal
from candidatures.domain.errors import DomainError, NotFound
from candidatures.domain.rules import CandidatureContent

from . import access
from .executor import Attempt, Context, Executor, Result, Write

SYSTEM_PRINCIPAL = Principal(role=Role.system, scope="*", subject="candidatures")
PARTNERSHIP_NAMESPACE = uuid.UUID("6f1c9a52-0d1e-4c53-9a43-6b0c2b8f7e10")


def campaign_stream(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def offer_stream(offer_id: str) -> str:
    return f"offer-{offer_id}"


def candidature_stream(candidature_id: str) -> str:
    return f"candidature-{candidature_id}"


def partnership_id_of(candidature_id: str) -> str:
    """Deterministic, so a retried attribution names the same partnership."""
    return str(uuid.uuid5(PARTNERSHIP_NAMESPACE, candidature_id))


@dataclass(frozen=True)
class CampaignInput:
    academie: Academie
    dispositif: Dispositif
    school_year: str
    title: str
    calendar: CampaignCalendar
    campaign_id: str | None = None


class CandidaturesApp:
    def __init__(self, runtime: Any) -> None:
        self.x = Executor(runtime)
        self.runtime = runtime

    # -- campaigns ------------------------------------------------------------------------

    async def open_campaign(self, ctx: Context, data: CampaignInput) -> Result:
        access.academie_acts_for_its_own_campaigns(ctx.principal, data.academie)
        cid = data.campaign_id or uuid.uuid4().hex
        stream = campaign_stream(cid)

        async def decide(a: Attempt):
            loaded = await a.load(stream, self.x.campaigns, new=data.campaign_id is None)
            already_open = await a.facts(lambda conn: read_model.open_campaign_for(
                conn, data.academie.value, data.dispositif.value, data.school_year))
            cmd = campaign.OpenCampaign(cid, data.academie, data.dispositif, data.school_year, data.title,
                                        data.calendar, ctx.principal.subject, self.x.now(), already_open)
            return [Write(stream, loaded.version, campaign.decide(cmd, loaded.state), data.academie)]

        return await self.x.run(ctx, decide, cid, stream)

    async def close_campaign(self, ctx: Context, campaign_id: str, at_deadline: bool = False) -> Result:
        stream = campaign_stream(campaign_id)

        async def decide(a: Attempt):
            loaded = await a.load(stream, self.x.campaigns)
            state = loaded.state
            if not isinstance(state, campaign.NoCampaign):
                access.academie_acts_for_its_own_campaigns(ctx.principal, state.opened.academie)
            events = campaign.decide(campaign.CloseCampaign(campaign_id, self.x.now(), at_deadline), state)
            return [Write(stream, loaded.version, events, _academie(state))]

        return await self.x.run(ctx, decide, campaign_id, stream)

    async def close_campaigns_past_deadline(self) -> list[str]:
        """Close every open campaign whose submission deadline has passed (reason ``deadline``);
        a CNR campaign among them stays open until its school year ends (the decider says so).
        Safe to run from several processes: a campaign closed twice gets no second event."""
        async with self.x.reader().connect() as conn:
            due = await read_model.open_campaigns_due(conn, self.x.now())
        closed = []
        for campaign_id in due:
            ctx = Context(SYSTEM_PRINCIPAL, uuid.uuid4())
            try:
                if (await self.close_campaign(ctx, campaign_id, at_deadline=True)).events:
                    closed.append(campaign_id)
            except ConcurrencyError:
                continue  # another process closed it meanwhile
        return closed

    # -- offers ---------------------------------------------------------------------------

    async def publish_offer(self, ctx: Context, campaign_id: str, content: offer.OfferContent,
                            offer_id: str | None = None) -> Result:
        oid = offer_id or uuid.uuid4().hex
        stream = offer_stream(oid)

        async def decide(a: Attempt):
            camp = (await a.load(campaign_stream(campaign_id), self.x.campaigns)).state
            access.partner_acts_for_its_own_offers(ctx.principal, content.partner.partner_id, _academie(camp) or "")
            loaded = await a.load(stream, self.x.offers, new=offer_id is None)
            events = offer.decide(offer.PublishOffer(oid, camp, content, self.x.now()), loaded.state)
            return [Write(stream, loaded.version, events, _academie(camp))]

        return await self.x.run(ctx, decide, oid, stream)

    async def _offer_command(self, ctx: Context, offer_id: str, make) -> Result:
        stream = offer_stream(offer_id)

        async def decide(a: Attempt):
            loaded = await a.load(stream, self.x.offers)
            state = loaded.state
            if isinstance(state, offer.NoOffer):
                raise NotFound("offer_must_exist", "no such offer", "offer_id")
            access.partner_acts_for_its_own_offers(ctx.principal, state.offer.partner.partner_id,
                                                   state.offer.academie)
            return [Write(stream, loaded.version, offer.decide(make(), state), state.offer.academie.value)]

        return await self.x.run(ctx, decide, offer_id, stream)

    async def update_offer(self, ctx: Context, offer_id: str, content: offer.OfferContent) -> Result:
        return await self._offer_command(ctx, offer_id, lambda: offer.UpdateOffer(offer_id, content, self.x.now()))

    async def withdraw_offer(self, ctx: Context, offer_id: str, reason: str | None) -> Result:
        return await self._offer_command(ctx, offer_id, lambda: offer.WithdrawOffer(offer_id, reason, self.x.now()))

    # -- candidatures: the school's side --------------------------------------------------

    async def write_content(self, ctx: Context, kind: type, given: CandidatureContent | None, *,
                            candidature_id: str | None = None, campaign_id: str | None = None) -> Result:
        """Draft, submit, amend or resubmit: every command that carries the full content. Without
        content (a draft submitted as it was saved) the candidature's current content is used."""
        if given is not None:
            access.applicant_acts_for_its_own_candidature(ctx.principal, given)
        cid = candidature_id or uuid.uuid4().hex
        stream = candidature_stream(cid)
        # a new candidature (an id made up here, or one the client chose on a creating route, which
        # names the campaign): decided as empty without a read; an id that is taken makes the
        # append at version 0 conflict, and the command is decided again on the stream read
        creating = candidature_id is None or campaign_id is not None

        async def decide(a: Attempt):
            loaded = await a.load(stream, self.x.candidatures, new=creating)
            state = loaded.state
            if not isinstance(state, candidature.NoCandidature):
                access.applicant_acts_for_its_own_candidature(ctx.principal, state.content)
            camp_id = state.header.campaign_id if hasattr(state, "header") else campaign_id
            if camp_id is None:
                raise NotFound("candidature_must_exist", "no such candidature", "candidature_id")
            content = given if given is not None else state.content
            camp, wished = await a.facts(lambda conn: read_model.submission_context(conn, camp_id, content.offer_id))
            events = candidature.decide(kind(cid, camp, wished, content, self.x.now()), state)
            return [Write(stream, loaded.version, events, content.academie.value)]

        return await self.x.run(ctx, decide, cid, stream)

    async def _candidature_command(self, ctx: Context, candidature_id: str, authorize, make) -> Result:
        stream = candidature_stream(candidature_id)

        async def decide(a: Attempt):
            loaded = await a.load(stream, self.x.candidatures)
            state = candidature.candidature_must_exist(loaded.state)
            authorize(state)
            events = candidature.decide(make(), state)
            return [Write(stream, loaded.version, events, state.content.academie.value)]

        return await self.x.run(ctx, decide, candidature_id, stream)

    def _school(self, ctx: Context):
        return lambda state: access.applicant_acts_for_its_own_candidature(ctx.principal, state.content)

    def _academie(self, ctx: Context):
        return lambda state: access.academie_acts_for_its_own_campaigns(ctx.principal, state.content.academie)

    async def withdraw(self, ctx: Context, candidature_id: str, reason: str | None) -> Result:
        return await self._candidature_command(ctx, candidature_id, self._school(ctx), lambda: (
            candidature.WithdrawCandidature(candidature_id, reason, self.x.now())))

    # -- candidatures: the académie's side ------------------------------------------------

    async def return_for_correction(self, ctx: Context, candidature_id: str, reason: str) -> Result:
        return await self._candidature_command(ctx, candidature_id, self._academie(ctx), lambda: (
            candidature.ReturnForCorrection(candidature_id, reason, self.x.now())))

    async def review(self, ctx: Context, candidature_id: str, avis: Avis, comment: str | None,
                     reviewer: str | None = None) -> Result:
        who = reviewer or ctx.principal.subject
        return await self._candidature_command(ctx, candidature_id, self._academie(ctx), lambda: (
            candidature.ReviewCandidature(candidature_id, who, avis, comment, self.x.now())))

    async def reject(self, ctx: Context, candidature_id: str, reason: str) -> Result:
        return await self._candidature_command(ctx, candidature_id, self._academie(ctx), lambda: (
            candidature.RejectCandidature(candidature_id, reason, self.x.now())))

    async def attribute(self, ctx: Context, candidature_id: str, partner: PartnerRef | None = None,
                        late_reason: str | None = None) -> Result:
        """Append ``PartnershipAttributed`` to the candidature and ``OfferCapacityReserved`` to the
        offer in one transaction, each at the version decided on: capacity holds under concurrency."""
        stream = candidature_stream(candidature_id)
        pid = partnership_id_of(candidature_id)

        async def decide(a: Attempt):
            loaded = await a.load(stream, self.x.candidatures)
            state = candidature.candidature_must_exist(loaded.state)
            access.academie_acts_for_its_own_campaigns(ctx.principal, state.content.academie)
            camp = (await a.load(campaign_stream(state.header.campaign_id), self.x.campaigns)).state
            offer_loaded = None
            if state.content.offer_id is not None:
                offer_loaded = await a.load(offer_stream(state.content.offer_id), self.x.offers)
            cmd = attribution.Attribute(candidature_id, pid, camp, offer_loaded.state if offer_loaded
                                        else None, self.x.now(), partner, late_reason)
            decided = attribution.decide(cmd, state)
            academie = state.content.academie.value
            writes = [Write(stream, loaded.version, decided.candidature_events, academie)]
            if offer_loaded is not None:
                writes.append(Write(offer_loaded.stream_id, offer_loaded.version, decided.offer_events, academie))
            return writes

        result = await self.x.run(ctx, decide, candidature_id, stream)
        result.extra["partnership_id"] = pid
        return result

    async def attribute_many(self, ctx: Context,
                             items: list[tuple[str, PartnerRef | None, str | None]]) -> list[dict]:
        """Each item in its own transaction, so one refusal does not hold the others back."""
        results = []
        for candidature_id, partner, late_reason in items:
            try:
                r = await self.attribute(ctx, candidature_id, partner, late_reason)
                results.append({"candidature_id": candidature_id, "status": 200, "version": r.version,
                                "partnership_id": r.extra["partnership_id"], "events": event_refs(r.events)})
            except DomainError as exc:
                results.append({"candidature_id": candidature_id, "status": exc.status, "rule": exc.rule,
                                "detail": str(exc)})
            except ConcurrencyError as exc:
                results.append({"candidature_id": candidature_id, "status": 409, "rule": "version_conflict",
                                "detail": str(exc)})
        return results

    # -- renewal --------------------------------------------------------------------------

    async def _partnership_command(self, ctx: Context, partnership_id: str, by_school: bool, make) -> Result:
        async with self.x.reader().connect() as conn:
            cid = await read_model.candidature_of_partnership(conn, partnership_id)
        if cid is None:
            raise NotFound("partnership_must_exist", "no such partnership", "partnership_id")
        stream = candidature_stream(cid)

        async def decide(a: Attempt):
            loaded = await a.load(stream, self.x.partnerships)
            state = renewal.partnership_must_exist(loaded.state)
            academie = state.year.origin.academie
            if by_school:
                access.school_side_asks_the_renewal(ctx.principal, state.year.origin)
            else:
                access.academie_acts_for_its_own_campaigns(ctx.principal, academie)
            return [Write(stream, loaded.version, renewal.decide(make(), state), academie.value)]

        return await self.x.run(ctx, decide, partnership_id, stream)

    async def request_renewal(self, ctx: Context, partnership_id: str, classes: list[ClassEntry], motivation: str,
                              tier: CultureTier | None) -> Result:
        return await self._partnership_command(ctx, partnership_id, True, lambda: renewal.RequestRenewal(
            tuple(classes), motivation, tier, self.x.now()))

    async def grant_renewal(self, ctx: Context, partnership_id: str, calendar: CampaignCalendar | None) -> Result:
        return await self._partnership_command(ctx, partnership_id, False, lambda: renewal.GrantRenewal(
            calendar, self.x.now()))

    async def decline_renewal(self, ctx: Context, partnership_id: str, reason: str) -> Result:
        return await self._partnership_command(ctx, partnership_id, False, lambda: renewal.DeclineRenewal(
            reason, self.x.now()))


def _academie(state) -> str | None:
    opened = getattr(state, "opened", None)
    return opened.academie.value if opened is not None else None
