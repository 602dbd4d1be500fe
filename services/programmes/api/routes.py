"""HTTP routes: parse, build one command, call the service. Writes answer the new stream version
(body and ETag); ``If-Match`` pins the version decided on (409 on conflict)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from eventkit.auth import Principal, browser_principal_dependency, principal_dependency, remember_token, require_roles
from eventkit.http import correlation_id, etag, expected_version, offset_query, written
from eventkit.pages import page_templates
from jumelage_contracts import Role
from jumelage_contracts.envelope import HEADER_SAFE
from jumelage_contracts.programmes import Side, partnership_stream

from programmes.adapters.directory import Filters
from programmes.api import schemas as s
from programmes.app.service import Context, PartnershipService
from programmes.app.views import page_view, partnership_view, programme_view, timeline_view
from programmes.domain import commands as c

router = APIRouter(prefix="/partnerships", tags=["partnerships"])
admin_router = APIRouter(prefix="/admin", tags=["admin"])
principal = principal_dependency()
Caller = Depends(principal)
_templates = page_templates(Path(__file__).resolve().parents[1] / "templates")


def service(request: Request) -> PartnershipService:
    return request.app.state.programmes


async def write(request: Request, pid: str, command: c.Command, who: Principal, created: bool = False) -> JSONResponse:
    context = Context(who, correlation_id(request), expected_version(request))
    result = await service(request).execute(pid, command, context)
    status = 201 if created and result.events else 200
    return written(result.partnership_id, partnership_stream(result.partnership_id), result.version, result.events,
                   status, partnership_id=result.partnership_id)


def now(request: Request):
    return service(request).now()


# -- queries -----------------------------------------------------------------------------------


@router.get("")
async def list_partnerships(request: Request, who: Principal = Caller, academie: str | None = None,
                            uai: str | None = None, partner_id: str | None = None, school_year: str | None = None,
                            dispositif: str | None = None, status: str | None = Query(default=None, pattern="^(running|ended)$"),
                            limit: int = Query(default=100, ge=1, le=500), offset: int = offset_query()):
    filters = Filters(academie, uai, partner_id, school_year, dispositif, status)
    total, items = await service(request).list(who, filters, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.get("/{pid}")
async def get_partnership(pid: str, request: Request, who: Principal = Caller) -> JSONResponse:
    loaded = await service(request).read(pid, who)
    return JSONResponse(partnership_view(loaded.state, loaded.version), headers={"ETag": etag(loaded.version)})


@router.get("/{pid}/programme")
async def get_programme(pid: str, request: Request, year_index: int | None = Query(default=None, ge=1),
                        who: Principal = Caller) -> JSONResponse:
    loaded = await service(request).read(pid, who)
    return JSONResponse(programme_view(loaded.state, loaded.version, year_index), headers={"ETag": etag(loaded.version)})


@router.get("/{pid}/timeline")
async def get_timeline(pid: str, request: Request, who: Principal = Caller) -> dict[str, Any]:
    envelopes = await service(request).timeline(pid, who)
    return timeline_view(pid, envelopes)


@router.get("/{pid}/page", response_class=HTMLResponse)
async def get_page(pid: str, request: Request, who: Principal = Depends(browser_principal_dependency()),
                   token: str | None = None) -> HTMLResponse:
    """The partnership's page for a person (the links of e-mails and calendar entries): its current
    year's programme per class, meetings, referents and state. Token as bearer, ``?token=`` or cookie."""
    loaded = await service(request).read(pid, who)
    page = _templates.get_template("partnership.html").render(**page_view(loaded.state, loaded.version))
    response = HTMLResponse(page)
    remember_token(response, request, token)
    return response


# -- referents and convention ------------------------------------------------------------------


@router.post("/{pid}/referents")
async def designate_referent(pid: str, body: s.ReferentBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who, created=True)


@router.post("/{pid}/convention/signatures")
async def sign_convention(pid: str, body: s.SignatureBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who, created=True)


# -- classes -----------------------------------------------------------------------------------


@router.post("/{pid}/classes/{class_id}/cancel")
async def cancel_class(pid: str, class_id: str, body: s.ReasonBody, request: Request, who: Principal = Caller):
    return await write(request, pid, c.CancelClass(class_id, body.reason, now(request)), who)


# -- meetings ----------------------------------------------------------------------------------


@router.post("/{pid}/meetings")
async def schedule_meeting(pid: str, body: s.MeetingBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who, created=True)


@router.post("/{pid}/meetings/{meeting_id}/reschedule")
async def reschedule_meeting(pid: str, meeting_id: str, body: s.MeetingRescheduleBody, request: Request,
                             who: Principal = Caller):
    command = c.RescheduleMeeting(meeting_id, body.starts_at, now(request), body.place, body.reason)
    return await write(request, pid, command, who)


@router.post("/{pid}/meetings/{meeting_id}/cancel")
async def cancel_meeting(pid: str, meeting_id: str, body: s.ReasonBody, request: Request, who: Principal = Caller):
    return await write(request, pid, c.CancelMeeting(meeting_id, body.reason, now(request)), who)


@router.post("/{pid}/meetings/{meeting_id}/held")
async def hold_meeting(pid: str, meeting_id: str, body: s.MeetingHeldBody, request: Request, who: Principal = Caller):
    command = c.HoldMeeting(meeting_id, body.minutes, now(request), tuple(body.attendees), tuple(body.productions))
    return await write(request, pid, command, who)


# -- actions -----------------------------------------------------------------------------------


@router.post("/{pid}/actions")
async def schedule_action(pid: str, body: s.ActionBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who, created=True)


@router.post("/{pid}/actions/{action_id}/reschedule")
async def reschedule_action(pid: str, action_id: str, body: s.ActionRescheduleBody, request: Request,
                            who: Principal = Caller):
    command = c.RescheduleAction(action_id, body.starts_at, now(request), body.duration_minutes, body.place,
                                 body.reason)
    return await write(request, pid, command, who)


@router.post("/{pid}/actions/{action_id}/cancel")
async def cancel_action(pid: str, action_id: str, body: s.ReasonBody, request: Request, who: Principal = Caller):
    return await write(request, pid, c.CancelAction(action_id, body.reason, now(request)), who)


@router.post("/{pid}/actions/{action_id}/complete")
async def complete_action(pid: str, action_id: str, request: Request, body: s.ActionCompleteBody | None = None,
                          who: Principal = Caller):
    body = body or s.ActionCompleteBody()
    command = c.CompleteAction(action_id, now(request), tuple(body.participants), body.staff_present,
                               body.families_present, body.notes)
    return await write(request, pid, command, who)


# -- bilan, steps, funding, end ----------------------------------------------------------------


@router.post("/{pid}/bilan")
async def record_bilan(pid: str, body: s.BilanBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who, created=True)


@router.post("/{pid}/bilan/close")
async def close_bilan(pid: str, request: Request, who: Principal = Caller):
    return await write(request, pid, c.CloseBilan(now(request)), who, created=True)


@router.post("/{pid}/bilan/{side}")
async def record_bilan_side(pid: str, side: Side, body: s.BilanSideBody, request: Request,
                            who: Principal = Caller):
    return await write(request, pid, body.command(side, now(request)), who, created=True)


@router.post("/{pid}/steps")
async def complete_step(pid: str, body: s.StepBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who, created=True)


@router.post("/{pid}/funding")
async def request_funding(pid: str, body: s.FundingRequestBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who, created=True)


@router.post("/{pid}/funding/{funding_id}/grant")
async def grant_funding(pid: str, funding_id: str, body: s.FundingGrantBody, request: Request, who: Principal = Caller):
    return await write(request, pid, c.GrantFunding(funding_id, body.amount_eur, body.granted_by, now(request)), who)


@router.post("/{pid}/funding/{funding_id}/spend")
async def spend_funding(pid: str, funding_id: str, body: s.FundingSpendBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(funding_id, now(request)), who, created=True)  # an expense


@router.post("/{pid}/end")
async def end_partnership(pid: str, body: s.EndBody, request: Request, who: Principal = Caller):
    return await write(request, pid, body.command(now(request)), who)


# -- RGPD erasure --------------------------------------------------------------------------------


@admin_router.post("/persons/{person_id}/erasure", status_code=202)
async def erase_person(request: Request, person_id: str = PathParam(max_length=200, pattern=HEADER_SAFE),
                       who: Principal = Depends(require_roles(principal, [Role.admin]))) -> dict[str, str]:
    """Erase a referent (RGPD article 17): their data key goes and ``PersonErased`` is published;
    every service then shows « personne effacée ». Same as ``jumelage erase --person``."""
    erased = await service(request).erase_person(person_id)
    return {"person_id": person_id, "event_id": str(erased.id), "status": "erased"}
