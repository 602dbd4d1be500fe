"""HTTP routes: parse, build the context, call one app function. Writes answer
``{id, stream_id, version, events}`` with ``ETag: "<version>"``; ``If-Match`` pins the version."""

from __future__ import annotations

from typing import Annotated

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from eventkit.auth import Principal, browser_principal_dependency, principal_dependency, remember_token
from eventkit.http import correlation_id, etag, expected_version, offset_query
from eventkit.http import written as kit_written
from eventkit.pages import page_templates
from jumelage_contracts.reference import Academie, Dispositif

from candidatures.app.commands import CampaignInput, CandidaturesApp
from candidatures.app.executor import Context, Result
from candidatures.app.queries import CandidaturesQueries, campaign_page
from candidatures.domain import candidature as K

from .schemas import (
    AttributeBody,
    BatchAttributionBody,
    CampaignBody,
    CandidatureBody,
    GrantBody,
    OfferBody,
    OptionalReasonBody,
    ReasonBody,
    RenewalRequestBody,
    ReviewBody,
)

current_principal = principal_dependency()
Caller = Annotated[Principal, Depends(current_principal)]

router = APIRouter()
_templates = page_templates(Path(__file__).resolve().parents[1] / "templates")


def cmd(request: Request) -> CandidaturesApp:
    return request.app.state.candidatures


def qry(request: Request) -> CandidaturesQueries:
    return request.app.state.candidatures_queries


def ctx(request: Request, principal: Principal, pinned: bool = True) -> Context:
    """The request is the cause of what it writes: its correlation id is also the causation id."""
    correlation = correlation_id(request)
    return Context(principal, correlation, expected_version(request) if pinned else None, causation_id=correlation)


def written(result: Result, status: int = 200) -> JSONResponse:
    return kit_written(result.id, result.stream_id, result.version, result.events, status, **result.extra)


# -- campaigns --------------------------------------------------------------------------------


@router.post("/campaigns", status_code=201, tags=["campaigns"], summary="Open a campaign (CampaignOpened)")
async def open_campaign(body: CampaignBody, request: Request, principal: Caller):
    data = CampaignInput(body.academie, body.dispositif, body.school_year, body.title, body.calendar, body.campaign_id)
    return written(await cmd(request).open_campaign(ctx(request, principal), data), 201)


@router.post("/campaigns/{campaign_id}/close", tags=["campaigns"], summary="Close a campaign (CampaignClosed)")
async def close_campaign(campaign_id: str, request: Request, principal: Caller):
    return written(await cmd(request).close_campaign(ctx(request, principal), campaign_id))


@router.get("/campaigns", tags=["campaigns"])
async def list_campaigns(request: Request, principal: Caller, academie: Academie | None = None,
                         dispositif: Dispositif | None = None, school_year: str | None = None):
    return await qry(request).campaigns(academie=academie and academie.value,
                                        dispositif=dispositif and dispositif.value, school_year=school_year)


@router.get("/campaigns/{campaign_id}", tags=["campaigns"])
async def get_campaign(campaign_id: str, request: Request, principal: Caller):
    return await qry(request).campaign(campaign_id)


# -- offers -----------------------------------------------------------------------------------


@router.post("/campaigns/{campaign_id}/offers", status_code=201, tags=["offers"], summary="Publish an offer")
async def publish_offer(campaign_id: str, body: OfferBody, request: Request, principal: Caller):
    result = await cmd(request).publish_offer(ctx(request, principal), campaign_id, body.content(), body.offer_id)
    return written(result, 201)


@router.put("/offers/{offer_id}", tags=["offers"], summary="Update an offer (full new content)")
async def update_offer(offer_id: str, body: OfferBody, request: Request, principal: Caller):
    return written(await cmd(request).update_offer(ctx(request, principal), offer_id, body.content()))


@router.post("/offers/{offer_id}/withdraw", tags=["offers"])
async def withdraw_offer(offer_id: str, request: Request, principal: Caller, body: OptionalReasonBody | None = None):
    body = body or OptionalReasonBody()
    return written(await cmd(request).withdraw_offer(ctx(request, principal), offer_id, body.reason))


@router.get("/campaigns/{campaign_id}/page", tags=["campaigns"], response_class=HTMLResponse,
            summary="The campaign's page for a person (the links of campaign reminders)")
async def get_campaign_page(campaign_id: str, request: Request,
                            principal: Principal = Depends(browser_principal_dependency()),
                            token: str | None = None) -> HTMLResponse:
    """Its calendar in the académie's time, its published offers and the candidatures the caller
    may see. Token as bearer, ``?token=`` or the cookie a first ``?token=`` left."""
    view = await campaign_page(qry(request), principal, campaign_id)
    response = HTMLResponse(_templates.get_template("campaign.html").render(**view))
    remember_token(response, request, token)
    return response


@router.get("/campaigns/{campaign_id}/offers", tags=["offers"])
async def list_offers(campaign_id: str, request: Request, principal: Caller, status: str | None = None):
    return await qry(request).offers(campaign_id=campaign_id, status=status)


@router.get("/offers/{offer_id}", tags=["offers"])
async def get_offer(offer_id: str, request: Request, principal: Caller):
    return await qry(request).offer(offer_id)


# -- candidatures: the school -----------------------------------------------------------------


@router.post("/campaigns/{campaign_id}/candidatures", status_code=201, tags=["candidatures"],
             summary="Submit a candidature (CandidatureSubmitted)")
async def submit(campaign_id: str, body: CandidatureBody, request: Request, principal: Caller):
    result = await cmd(request).write_content(ctx(request, principal), K.SubmitCandidature, body.content(),
                                              candidature_id=body.candidature_id, campaign_id=campaign_id)
    return written(result, 201)


@router.post("/campaigns/{campaign_id}/drafts", status_code=201, tags=["candidatures"],
             summary="Save a new draft candidature")
async def draft(campaign_id: str, body: CandidatureBody, request: Request, principal: Caller):
    result = await cmd(request).write_content(ctx(request, principal), K.DraftCandidature, body.content(),
                                              candidature_id=body.candidature_id, campaign_id=campaign_id)
    return written(result, 201)


@router.put("/candidatures/{candidature_id}/draft", tags=["candidatures"], summary="Save a draft again")
async def redraft(candidature_id: str, body: CandidatureBody, request: Request, principal: Caller):
    return written(await cmd(request).write_content(ctx(request, principal), K.DraftCandidature, body.content(),
                                                    candidature_id=candidature_id))


@router.post("/candidatures/{candidature_id}/submit", tags=["candidatures"],
             summary="Submit a draft: as it was saved (no body), or with its final content")
async def submit_draft(candidature_id: str, request: Request, principal: Caller, body: CandidatureBody | None = None):
    return written(await cmd(request).write_content(ctx(request, principal), K.SubmitCandidature,
                                                    body.content() if body is not None else None,
                                                    candidature_id=candidature_id))


@router.put("/candidatures/{candidature_id}", tags=["candidatures"],
            summary="Amend a submitted candidature before the deadline (full new content)")
async def amend(candidature_id: str, body: CandidatureBody, request: Request, principal: Caller):
    return written(await cmd(request).write_content(ctx(request, principal), K.AmendCandidature, body.content(),
                                                    candidature_id=candidature_id))


@router.post("/candidatures/{candidature_id}/resubmit", tags=["candidatures"],
             summary="Resubmit a candidature returned for correction")
async def resubmit(candidature_id: str, body: CandidatureBody, request: Request, principal: Caller):
    return written(await cmd(request).write_content(ctx(request, principal), K.ResubmitCandidature, body.content(),
                                                    candidature_id=candidature_id))


@router.post("/candidatures/{candidature_id}/withdraw", tags=["candidatures"])
async def withdraw(candidature_id: str, request: Request, principal: Caller, body: OptionalReasonBody | None = None):
    body = body or OptionalReasonBody()
    return written(await cmd(request).withdraw(ctx(request, principal), candidature_id, body.reason))


# -- candidatures: the académie ---------------------------------------------------------------


@router.post("/candidatures/{candidature_id}/return", tags=["instruction"], summary="Return for correction")
async def return_for_correction(candidature_id: str, body: ReasonBody, request: Request, principal: Caller):
    return written(await cmd(request).return_for_correction(ctx(request, principal), candidature_id, body.reason))


@router.post("/candidatures/{candidature_id}/reviews", tags=["instruction"], summary="Record an avis")
async def review(candidature_id: str, body: ReviewBody, request: Request, principal: Caller):
    return written(await cmd(request).review(ctx(request, principal), candidature_id, body.avis, body.comment))


@router.post("/candidatures/{candidature_id}/attribute", tags=["instruction"],
             summary="Attribute a partnership (PartnershipAttributed), within the offer's capacity; "
                     "after the attribution date, late with a reason")
async def attribute(candidature_id: str, request: Request, principal: Caller, body: AttributeBody | None = None):
    body = body or AttributeBody()
    return written(await cmd(request).attribute(ctx(request, principal), candidature_id, body.partner,
                                                body.late_reason))


@router.post("/candidatures/{candidature_id}/reject", tags=["instruction"])
async def reject(candidature_id: str, body: ReasonBody, request: Request, principal: Caller):
    return written(await cmd(request).reject(ctx(request, principal), candidature_id, body.reason))


@router.post("/attributions", tags=["instruction"], summary="Attribute a list of candidatures, one result each")
async def attribute_many(body: BatchAttributionBody, request: Request, principal: Caller):
    items = [(i.candidature_id, i.partner, i.late_reason) for i in body.items]
    results = await cmd(request).attribute_many(ctx(request, principal, pinned=False), items)
    return {"results": results, "attributed": sum(1 for r in results if r["status"] == 200)}


@router.get("/campaigns/{campaign_id}/candidatures", tags=["candidatures"],
            summary="List and filter a campaign's candidatures (narrowed to the caller's scope)")
async def list_candidatures(campaign_id: str, request: Request, principal: Caller,
                            status: str | None = None, uai: str | None = None, offer_id: str | None = None,
                            departement: str | None = None, education_prioritaire: str | None = None,
                            tier: str | None = None, avis: str | None = None,
                            limit: int = Query(100, ge=1, le=1000), offset: int = offset_query()):
    return await qry(request).candidatures(principal, campaign_id, limit, offset, status=status, uai=uai,
                                           offer_id=offer_id, departement=departement, tier=tier, avis=avis,
                                           education_prioritaire=education_prioritaire)


@router.get("/candidatures/{candidature_id}", tags=["candidatures"], summary="A candidature with its history")
async def get_candidature(candidature_id: str, request: Request, principal: Caller):
    row = await qry(request).candidature(principal, candidature_id)
    return JSONResponse(row, headers={"ETag": etag(row["history"][-1]["version"] if row["history"] else 0)})


# -- renewal ----------------------------------------------------------------------------------


@router.post("/partnerships/{partnership_id}/renewal", tags=["renewal"], summary="Request renewal (school)")
async def request_renewal(partnership_id: str, body: RenewalRequestBody, request: Request, principal: Caller):
    return written(await cmd(request).request_renewal(ctx(request, principal), partnership_id, body.classes,
                                                      body.motivation, body.tier))


@router.post("/partnerships/{partnership_id}/renewal/grant", tags=["renewal"])
async def grant_renewal(partnership_id: str, request: Request, principal: Caller, body: GrantBody | None = None):
    body = body or GrantBody()
    return written(await cmd(request).grant_renewal(ctx(request, principal), partnership_id, body.calendar))


@router.post("/partnerships/{partnership_id}/renewal/decline", tags=["renewal"])
async def decline_renewal(partnership_id: str, body: ReasonBody, request: Request, principal: Caller):
    return written(await cmd(request).decline_renewal(ctx(request, principal), partnership_id, body.reason))


@router.get("/partnerships/{partnership_id}", tags=["renewal"], summary="A partnership (its candidature's stream)")
async def get_partnership(partnership_id: str, request: Request, principal: Caller):
    return await qry(request).partnership(principal, partnership_id)
