"""Read side of the HTTP API: reminders of a recipient, ops lists, feeds, overrides, the clock."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from eventkit.auth import Principal
from jumelage_contracts import Role
from jumelage_contracts.programmes import EMAIL_PATTERN
from jumelage_contracts.reference import academie_of_uai, parse_uai

from ..adapters import db, ical
from ..domain import feeds
from ..domain.rules import RULES_BY_NAME, rules_for
from .links import partnership_page


def reminder_view(row: Any) -> dict[str, Any]:
    return {
        "reminder_id": row.reminder_id, "rule": row.rule, "kind": row.kind, "status": row.status,
        "title": row.title, "due_at": row.due_at, "next_attempt_at": row.next_attempt_at,
        "event_at": row.event_at, "place": row.place, "recipients": row.recipients, "academie": row.academie,
        "dispositif": row.dispositif, "partnership_id": row.partnership_id, "campaign_id": row.campaign_id,
        "action_id": row.action_id, "meeting_id": row.meeting_id, "uai": row.uai, "attempts": row.attempts,
        "last_error": row.last_error, "message_id": row.message_id, "sent_at": row.sent_at,
        "dedup_key": row.dedup_key, "late_until": row.late_until,
    }


def scope_filter(principal: Principal) -> dict[str, str]:
    """What a caller may see: a school its UAI, a partner its partnerships, an académie its own."""
    if principal.is_global():
        return {}
    return {Role.school: {"uai": principal.scope}, Role.partner: {"partner_id": principal.scope},
            Role.academie: {"academie": principal.scope}}.get(principal.role) or _forbidden()


def _forbidden() -> dict[str, str]:
    raise HTTPException(status_code=403, detail="this role sees no reminders")


# How long a missed reminder stays on the list of upcoming ones, so people see what they were
# not told (and why: ``status`` "missed", ``last_error`` the reason).
MISSED_SHOWN_FOR = timedelta(days=30)


async def upcoming(service: Any, principal: Principal, email: str | None, limit: int) -> list[dict[str, Any]]:
    where = scope_filter(principal)
    async with service.store.engine.connect() as conn:
        rows = await db.list_timers(conn, status=["pending"], email=email, after=None, limit=limit, **where)
        missed = await db.list_timers(conn, status=["missed"], email=email, limit=limit,
                                      after=service.clock.now() - MISSED_SHOWN_FOR, **where)
    merged = sorted([*rows, *missed], key=lambda r: (r.due_at, r.reminder_id))[:limit]
    return [reminder_view(r) for r in merged]


async def ops_list(service: Any, principal: Principal, state: str, limit: int) -> dict[str, Any]:
    where = scope_filter(principal)
    if "uai" in where or "partner_id" in where:
        raise HTTPException(status_code=403, detail="ops lists are for académies and national steering")
    now = service.clock.now()
    async with service.store.engine.connect() as conn:
        if state == "due":
            rows = await db.list_timers(conn, status=["pending"], due_before=now, limit=limit, **where)
        elif state == "failed":
            failed = await db.list_timers(conn, status=["failed"], limit=limit, **where)
            retrying = [r for r in await db.list_timers(conn, status=["pending"], limit=limit * 5, **where) if r.attempts > 0]
            rows = failed + retrying[:limit]
        else:
            raise HTTPException(status_code=422, detail="state must be 'due' or 'failed'")
        due_count = await db.count_due(conn, now)
    return {"now": now, "state": state, "count": len(rows), "due_total": due_count,
            "reminders": [reminder_view(r) for r in rows]}


EMAIL = re.compile(EMAIL_PATTERN)
MAX_EMAIL = 320  # as ReferentDesignated bounds it
FEED_NAMES = {"partnership": "Jumelage", "school": "Jumelages de l'école", "referent": "Mes jumelages"}


def invalid_key(message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("path", "key"), "msg": message, "type": "value_error"}])


def feed_key(kind: str, key: str) -> str:
    """The key as stored: a UAI in canonical form, an address in lower case; 422 when malformed."""
    if kind == "school":
        try:
            return parse_uai(key)
        except ValueError as exc:
            raise invalid_key(str(exc)) from exc
    if kind == "referent":
        if len(key) > MAX_EMAIL or not EMAIL.fullmatch(key):
            raise invalid_key("not an e-mail address")
        return key.lower()
    return key


async def feed_view(conn: Any, principal: Principal, kind: str, key: str) -> str:
    """The view of the feed ``principal`` may hold (``feeds.WHOLE`` or an académie), or 403/404
    (``domain/feeds.py``). Nothing is written: what does not exist gets no URL."""
    caller = feeds.Caller(role=principal.role, scope=principal.scope, email=principal.email)
    try:
        if kind == "partnership":
            known = await db.partnership(conn, key)
            sides = feeds.PartnershipSides(known.uai, known.partner_id, known.academie,
                                            known.organiser_id) if known else None
            return feeds.a_partnership_feed_goes_to_its_school_its_partner_and_its_academie(caller, sides)
        if kind == "school":
            return feeds.a_school_feed_goes_to_the_school_and_its_academie(
                caller, key, academie_of_uai(key).value, await db.school_known(conn, key))
        return feeds.a_person_s_feed_goes_to_that_person_or_the_academie_of_their_partnerships(
            caller, key, await db.referent_academies(conn, key))
    except feeds.FeedUnknown as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except feeds.FeedRefused as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc


def feed_answer(service: Any, kind: str, key: str, view: str, token: str) -> dict[str, Any]:
    return {"kind": kind, "key": key, "academie": None if view == feeds.WHOLE else view,
            "url": f"{service.settings.public_url.rstrip('/')}/ical/{token}.ics"}


async def feed_url(service: Any, principal: Principal, kind: str, key: str) -> dict[str, Any]:
    key = feed_key(kind, key)
    async with service.store.transaction() as tx:
        view = await feed_view(tx.connection, principal, kind, key)
        token = await db.feed_token(tx.connection, kind, key, service.clock.now(), view)
    return feed_answer(service, kind, key, view, token)


async def rotate_feed(service: Any, principal: Principal, kind: str, key: str) -> dict[str, Any]:
    """The view's URL revoked and a new one issued, in one transaction."""
    key = feed_key(kind, key)
    async with service.store.transaction() as tx:
        view = await feed_view(tx.connection, principal, kind, key)
        await db.revoke_feed(tx.connection, kind, key, service.clock.now(), view)
        token = await db.feed_token(tx.connection, kind, key, service.clock.now(), view)
    return feed_answer(service, kind, key, view, token)


async def revoke_feed(service: Any, principal: Principal, kind: str, key: str) -> None:
    key = feed_key(kind, key)
    async with service.store.transaction() as tx:
        view = await feed_view(tx.connection, principal, kind, key)
        await db.revoke_feed(tx.connection, kind, key, service.clock.now(), view)


async def feed_body(service: Any, token: str) -> bytes:
    async with service.store.engine.connect() as conn:
        found = await db.feed_by_token(conn, token)
        if found is None:
            if await db.revoked_feed(conn, token) is not None:
                raise HTTPException(status_code=410, detail="this feed URL was revoked: ask /feeds for the current one")
            raise HTTPException(status_code=404, detail="unknown feed")
        items = await db.items_for_feed(conn, found.kind, found.key, found.academie)

    def page_of(item: Any) -> str | None:
        return partnership_page(service.mail.programmes_url, item.partnership_id) if item.partnership_id else None

    return ical.feed(f"{FEED_NAMES.get(found.kind, 'Jumelage')} ({found.key})", items, service.clock.now(), page_of)


def is_the_academie(principal: Principal, academie: str) -> bool:
    return principal.role == Role.academie and principal.scope == academie


def check_may_read(principal: Principal, academie: str) -> None:
    """An académie's rules and overrides: read by that académie, national steering and admin."""
    if not (is_the_academie(principal, academie) or principal.role in (Role.national, Role.admin)):
        raise HTTPException(status_code=403, detail="only the académie itself, national or admin read its rules")


def check_may_change(principal: Principal, academie: str) -> None:
    """Changed by that académie and admin only (national steers, it does not set an académie's mail)."""
    if not (is_the_academie(principal, academie) or principal.role == Role.admin):
        raise HTTPException(status_code=403, detail="only the académie itself (or an admin) may change its rules")


async def set_override(service: Any, principal: Principal, academie: str, dispositif: str, rule: str,
                       enabled: bool | None, offset_days: int | None, at: time | None, fixed_date: date | None) -> dict:
    check_may_change(principal, academie)
    if rule not in RULES_BY_NAME:
        raise HTTPException(status_code=404, detail=f"unknown rule {rule!r}")
    async with service.store.transaction() as tx:
        await db.upsert(tx.connection, db.overrides, {
            "academie": academie, "dispositif": dispositif, "rule": rule, "enabled": enabled,
            "offset_days": offset_days, "at_time": at.strftime("%H:%M") if at else None, "fixed_date": fixed_date,
        }, ["academie", "dispositif", "rule"])
    return await effective_rules(service, principal, academie, None if dispositif == "*" else dispositif)


async def effective_rules(service: Any, principal: Principal, academie: str, dispositif: str | None) -> dict:
    check_may_read(principal, academie)
    async with service.store.engine.connect() as conn:
        overrides = await db.rule_overrides(conn, academie)
    return {"academie": academie, "dispositif": dispositif, "rules": [
        {"name": r.name, "on": sorted(r.on), "anchor": r.anchor, "offset_days": r.offset_days,
         "at": r.at.strftime("%H:%M") if r.at else None, "fixed_date": r.fixed_date, "enabled": r.enabled, "audience": list(r.audience),
         "kind": r.kind, "dispositifs": sorted(r.dispositifs), "cancelled_by": sorted(r.cancelled_by)}
        for r in rules_for(academie, dispositif, overrides)]}


async def set_contact(service: Any, principal: Principal, academie: str, role: str, name: str, email: str) -> dict:
    check_may_change(principal, academie)
    async with service.store.transaction() as tx:
        await db.upsert(tx.connection, db.contacts, {"academie": academie, "role": role, "name": name, "email": email},
                        ["academie", "role"])
    return {"academie": academie, "role": role, "name": name, "email": email}


async def move_clock(service: Any, now: datetime | None, advance_seconds: float | None) -> dict[str, Any]:
    clock = service.manual_clock
    if clock is None:
        raise HTTPException(status_code=404, detail="the clock is the wall clock (settings.clock != 'manual')")
    target = now if now is not None else clock.now() + timedelta(seconds=advance_seconds or 0)
    if target >= clock.now():
        fired = await service.scheduler.run_until(target)  # each reminder at its time on the way
    else:
        clock.set(target)
        fired = await service.scheduler.tick()
    return {"now": clock.now(), "fired": fired}
