"""HTTP routes: thin — parse, authorise, call one app function."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from eventkit.auth import Principal, principal_dependency, require_roles
from jumelage_contracts import Role
from jumelage_contracts.programmes import EMAIL_PATTERN
from jumelage_contracts.reference import Academie

from ..app import queries
from ..domain.feeds import FeedKind

router = APIRouter()
current = principal_dependency()
admin_only = require_roles(current, [Role.admin])


def service(request: Request):
    return request.app.state.notifications


MAX_CLOCK_ADVANCE_S = 10 * 366 * 86400  # ten years: past any campaign, well inside a date's range


class ClockMove(BaseModel):
    now: AwareDatetime | None = Field(default=None, description="Set the clock to this instant (with its zone)")
    advance_seconds: float | None = Field(default=None, ge=0, le=MAX_CLOCK_ADVANCE_S)


class OverrideBody(BaseModel):
    enabled: bool | None = None
    offset_days: int | None = Field(default=None, ge=-366, le=366)
    at: time | None = Field(default=None, description="Local time of day, e.g. 09:30")
    fixed_date: date | None = None


class ContactBody(BaseModel):
    name: str = Field(min_length=1, max_length=300)
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)


@router.get("/reminders", tags=["reminders"])
async def upcoming_reminders(request: Request, email: str | None = None, limit: int = Query(100, ge=1, le=1000),
                             principal: Principal = Depends(current)):
    return {"reminders": await queries.upcoming(service(request), principal, email, limit)}


@router.get("/ops/reminders", tags=["ops"])
async def ops_reminders(request: Request, state: Literal["due", "failed"] = "due",
                        limit: int = Query(200, ge=1, le=5000), principal: Principal = Depends(current)):
    return await queries.ops_list(service(request), principal, state, limit)


FEED_KEY = Path(max_length=320, description="partnership id, school UAI or referent e-mail")
GONE = {410: {"description": "The feed URL was revoked or rotated: ask `/feeds/...` for the current one",
              "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}


@router.get("/feeds/{kind}/{key}", tags=["ical"])
async def feed_url(request: Request, kind: FeedKind, key: str = FEED_KEY, principal: Principal = Depends(current)):
    """The feed's secret URL, issued on first ask. A partnership's: its school, its partner, its académie;
    a school's: the school and its académie; a person's (referent): that person (the token's verified
    e-mail), whole, or an académie of their partnerships, its own part only (its own URL); national and
    admin: any. Unknown: 404, nothing issued."""
    return await queries.feed_url(service(request), principal, kind, key)


@router.post("/feeds/{kind}/{key}/rotate", tags=["ical"])
async def rotate_feed(request: Request, kind: FeedKind, key: str = FEED_KEY, principal: Principal = Depends(current)):
    """A new secret URL for the feed; the old one answers 410 from now on."""
    return await queries.rotate_feed(service(request), principal, kind, key)


@router.delete("/feeds/{kind}/{key}", tags=["ical"], status_code=204, response_class=Response)
async def revoke_feed(request: Request, kind: FeedKind, key: str = FEED_KEY,
                      principal: Principal = Depends(current)) -> Response:
    """The feed's URL stops serving (410); asking for the feed again issues a new one."""
    await queries.revoke_feed(service(request), principal, kind, key)
    return Response(status_code=204)


@router.get("/ical/{token}.ics", tags=["ical"], responses=GONE)
async def ical_feed(request: Request, token: str = Path(max_length=64)) -> Response:
    body = await queries.feed_body(service(request), token)
    return Response(body, media_type="text/calendar; charset=utf-8")


@router.get("/admin/rules/{academie}", tags=["admin"])
async def rules(request: Request, academie: Academie, dispositif: str | None = Query(None, max_length=30),
                principal: Principal = Depends(current)):
    """The rules in force for the académie (overrides applied): that académie, national and admin read them."""
    return await queries.effective_rules(service(request), principal, academie, dispositif)


@router.put("/admin/rules/{academie}/{dispositif}/{rule}", tags=["admin"])
async def override_rule(request: Request, academie: Academie, dispositif: str, rule: str, body: OverrideBody,
                        principal: Principal = Depends(current)):
    """Override one rule for one dispositif (or ``*``): that académie and admin only."""
    return await queries.set_override(service(request), principal, academie, dispositif, rule,
                                      body.enabled, body.offset_days, body.at, body.fixed_date)


@router.put("/admin/contacts/{academie}/{role}", tags=["admin"])
async def set_contact(request: Request, academie: Academie, role: Literal["academie", "school"], body: ContactBody,
                      principal: Principal = Depends(current)):
    """The académie's contact for escalations (DAAC) or its schools' fallback: that académie and admin only."""
    return await queries.set_contact(service(request), principal, academie, role, body.name, body.email)


@router.post("/admin/clock", tags=["admin"])
async def move_clock(request: Request, body: ClockMove, principal: Principal = Depends(admin_only)):
    return await queries.move_clock(service(request), body.now, body.advance_seconds)
