"""Table shapes of notifications' own tables (the DDL is in ``migrations/``) and the queries on
them. Every function takes the caller's connection: writes happen inside the store transaction
that also appends the events they mirror."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import (
    JSON, Boolean, Column, Date, Integer, MetaData, String, Table, Text, func, insert, or_, select, update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from eventkit.sql import UtcDateTime

from ..domain.rules import RuleOverride

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

metadata = MetaData()
JSON_DATA = JSON().with_variant(postgresql.JSONB(), "postgresql")

timers = Table(
    "notif_timers", metadata,
    Column("reminder_id", String(60), primary_key=True),
    Column("dedup_key", String(300)), Column("rule", String(100)), Column("kind", String(20)),
    Column("template", String(100)), Column("scope", String(20)), Column("scope_id", String(300)),
    Column("school_year", String(9)), Column("academie", String(50)), Column("dispositif", String(30)),
    Column("campaign_id", String(200)), Column("partnership_id", String(200)), Column("action_id", String(200)),
    Column("meeting_id", String(200)), Column("uai", String(8)),
    Column("audience", JSON_DATA), Column("recipients", JSON_DATA),
    Column("title", String(300)), Column("place", String(500)), Column("event_at", UtcDateTime()),
    Column("due_at", UtcDateTime()), Column("next_attempt_at", UtcDateTime()),
    Column("status", String(20)), Column("attempts", Integer()), Column("last_error", Text()),
    Column("message_id", String(300)), Column("sent_at", UtcDateTime()),
    Column("stream_version", Integer()), Column("updated_at", UtcDateTime()),
    Column("late_until", UtcDateTime()), Column("detail", Text()),
)
campaigns = Table(
    "notif_campaigns", metadata,
    Column("campaign_id", String(200), primary_key=True), Column("academie", String(50)),
    Column("dispositif", String(30)), Column("school_year", String(9)), Column("title", String(300)),
    Column("calendar", JSON_DATA), Column("open", Boolean()),
)
candidatures = Table(
    "notif_candidatures", metadata,
    Column("candidature_id", String(200), primary_key=True), Column("campaign_id", String(200)),
    Column("uai", String(8)), Column("school_name", String(300)), Column("academie", String(50)),
    Column("contact_email", String(320)),  # an ACM organiser's own (personal: may be a person's)
)
partnerships = Table(
    "notif_partnerships", metadata,
    Column("partnership_id", String(200), primary_key=True), Column("school_year", String(9), primary_key=True),
    Column("year_index", Integer()), Column("academie", String(50)), Column("dispositif", String(30)),
    Column("campaign_id", String(200)), Column("uai", String(8)), Column("school_name", String(300)),
    Column("partner_id", String(200)), Column("partner_name", String(300)), Column("calendar", JSON_DATA),
    Column("ended", Boolean()), Column("decided_at", UtcDateTime()), Column("detail", Text()),
    Column("contact_email", String(320)),  # an ACM organiser's own (personal: may be a person's)
    Column("organiser_id", String(200)),  # the ACM organiser holding the school side (plan mercredi)
)
referents = Table(
    "notif_referents", metadata,
    Column("partnership_id", String(200), primary_key=True), Column("school_year", String(9), primary_key=True),
    Column("referent_id", String(200), primary_key=True), Column("side", String(20)), Column("role", String(30)),
    Column("name", String(300)), Column("email", String(320)), Column("active", Boolean()),
)
calendar_items = Table(
    "notif_calendar_items", metadata,
    Column("uid", String(300), primary_key=True), Column("partnership_id", String(200)),
    Column("campaign_id", String(200)), Column("school_year", String(9)), Column("academie", String(50)),
    Column("uai", String(8)), Column("kind", String(20)), Column("summary", String(300)),
    Column("description", Text()), Column("starts_at", UtcDateTime()), Column("ends_at", UtcDateTime()),
    Column("all_day", Boolean()), Column("place", String(500)), Column("status", String(20)),
    Column("sequence", Integer()), Column("updated_at", UtcDateTime()), Column("meeting_kind", String(30)),
)
# One row per view in service: ``academie`` narrows a person's feed to that académie's
# partnerships ("*" = the whole feed). A revoked or rotated URL moves to ``feeds_revoked``.
feeds = Table(
    "notif_feeds", metadata,
    Column("token", String(64), primary_key=True), Column("kind", String(20)), Column("key", String(320)),
    Column("created_at", UtcDateTime()), Column("academie", String(50), nullable=False, server_default="*"),
)
feeds_revoked = Table(
    "notif_feeds_revoked", metadata,
    Column("token", String(64), primary_key=True), Column("kind", String(20)), Column("key", String(320)),
    Column("academie", String(50)), Column("created_at", UtcDateTime()), Column("revoked_at", UtcDateTime()),
)
contacts = Table(
    "notif_academie_contacts", metadata,
    Column("academie", String(50), primary_key=True), Column("role", String(20), primary_key=True),
    Column("name", String(300)), Column("email", String(320)),
)
overrides = Table(
    "notif_rule_overrides", metadata,
    Column("academie", String(50), primary_key=True), Column("dispositif", String(30), primary_key=True),
    Column("rule", String(100), primary_key=True), Column("enabled", Boolean()), Column("offset_days", Integer()),
    Column("at_time", String(5)), Column("fixed_date", Date()),
)


# Retention timers (RGPD): one per partnership, fired by the scheduler (app/retention.py).
retention = Table(
    "notif_retention", metadata,
    Column("partnership_id", String(200), primary_key=True), Column("academie", String(50)),
    Column("dispositif", String(30)), Column("school_year", String(9)), Column("year_index", Integer()),
    Column("ended_at", UtcDateTime()), Column("retained_from", UtcDateTime()), Column("retention_years", Integer()),
    Column("due_at", UtcDateTime()), Column("status", String(20)), Column("expired_at", UtcDateTime()),
    Column("stream_version", Integer()), Column("updated_at", UtcDateTime()),
)


# Effects whose cause has not arrived yet (an ActionCancelled before its ActionScheduled), held
# until it does; ``waiting_for`` names the cause (see app/causes.py).
parked = Table(
    "notif_parked", metadata,
    Column("seq", Integer(), primary_key=True, autoincrement=True), Column("event_id", String(36)),
    Column("waiting_for", String(400)), Column("type", String(100)), Column("envelope", JSON_DATA),
    Column("parked_at", UtcDateTime()),
)
# Facts that settle a subject whichever order the events come in ("candidature:<id>" submitted
# or withdrawn, "bilan_recorded:<partnership>:<year>"...), so a late event plans nothing stale.
settled = Table(
    "notif_settled", metadata,
    Column("key", String(400), primary_key=True), Column("event_id", String(36)),
)


def _insert(conn: AsyncConnection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert


async def upsert(conn: AsyncConnection, table: Table, values: dict[str, Any], keys: list[str]) -> None:
    stmt = _insert(conn)(table).values(**values)
    changes = {k: stmt.excluded[k] for k in values if k not in keys}
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changes) if changes else stmt.on_conflict_do_nothing(index_elements=keys)
    await conn.execute(stmt)


# -- timers ----------------------------------------------------------------------------------------

async def timer(conn: AsyncConnection, reminder_id: str, *, lock: bool = False) -> Any:
    query = select(timers).where(timers.c.reminder_id == reminder_id)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def pending_timers_of(conn: AsyncConnection, scope: str, scope_id: str, rules: Iterable[str],
                            school_year: str | None) -> list[Any]:
    query = select(timers).where(timers.c.scope == scope, timers.c.scope_id == scope_id,
                                 timers.c.rule.in_(list(rules)), timers.c.status == "pending")
    if school_year is not None:
        query = query.where(or_(timers.c.school_year == school_year, timers.c.school_year.is_(None)))
    return list((await conn.execute(query.with_for_update())).all())


async def claim_due(conn: AsyncConnection, now: datetime, limit: int, until: datetime) -> list[Any]:
    """Claim up to ``limit`` due timers until ``until``, in one statement: their next attempt
    moves to ``until``, so nobody else sees them due before then (sent and recorded by then, or
    due again). PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so two replicas share the work and never
    take the same row; SQLite has one writer (``BEGIN IMMEDIATE``) and ignores the clause.
    Returns the rows (as updated), oldest due first."""
    due = (select(timers.c.reminder_id).where(timers.c.status == "pending", timers.c.next_attempt_at <= now)
           .order_by(timers.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
    claim = (update(timers).where(timers.c.reminder_id.in_(due.scalar_subquery()))
             .values(next_attempt_at=until).returning(*timers.c))
    return sorted((await conn.execute(claim)).all(), key=lambda r: (r.due_at, r.reminder_id))


STATE_COLUMNS = ("reminder_id", "rule", "dedup_key", "status", "due_at", "next_attempt_at", "attempts",
                 "message_id", "last_error", "academie", "stream_version")


async def lock_timers(conn: AsyncConnection, reminder_ids: list[str]) -> list[Any]:
    """The rows' state as it is now (what deciding and appending need, not the JSON columns),
    locked in a fixed order (two lockers cannot deadlock on them)."""
    query = (select(*(timers.c[name] for name in STATE_COLUMNS)).where(timers.c.reminder_id.in_(reminder_ids))
             .order_by(timers.c.reminder_id).with_for_update())
    return list((await conn.execute(query)).all())


async def save_timer(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await upsert(conn, timers, values, ["reminder_id"])


async def update_timer(conn: AsyncConnection, reminder_id: str, **values: Any) -> None:
    await conn.execute(update(timers).where(timers.c.reminder_id == reminder_id).values(**values))


async def list_timers(conn: AsyncConnection, *, status: list[str] | None = None, academie: str | None = None,
                      uai: str | None = None, partner_id: str | None = None, email: str | None = None,
                      due_before: datetime | None = None, after: datetime | None = None, limit: int = 200) -> list[Any]:
    query = select(timers)
    if status:
        query = query.where(timers.c.status.in_(status))
    if academie:
        query = query.where(timers.c.academie == academie)
    if uai:
        query = query.where(timers.c.uai == uai)
    if partner_id:
        owned = select(partnerships.c.partnership_id).where(
            or_(partnerships.c.partner_id == partner_id, partnerships.c.organiser_id == partner_id))
        query = query.where(timers.c.partnership_id.in_(owned))
    if email:
        # JSON containment differs per database; the recipients list is small, so filter in Python.
        pass
    if due_before is not None:
        query = query.where(timers.c.next_attempt_at <= due_before)
    if after is not None:
        query = query.where(timers.c.due_at >= after)
    rows = list((await conn.execute(query.order_by(timers.c.due_at).limit(limit * (5 if email else 1)))).all())
    if email:
        wanted = email.lower()
        rows = [r for r in rows if any(p["email"].lower() == wanted for p in r.recipients)][:limit]
    return rows


async def next_due(conn: AsyncConnection) -> datetime | None:
    """When the next pending timer falls due."""
    return await conn.scalar(select(func.min(timers.c.next_attempt_at)).where(timers.c.status == "pending"))


async def count_due(conn: AsyncConnection, now: datetime) -> int:
    query = select(func.count()).select_from(timers).where(timers.c.status == "pending", timers.c.next_attempt_at <= now)
    return int(await conn.scalar(query) or 0)


# -- facts -----------------------------------------------------------------------------------------

async def campaign(conn: AsyncConnection, campaign_id: str) -> Any:
    return (await conn.execute(select(campaigns).where(campaigns.c.campaign_id == campaign_id))).first()


async def candidature(conn: AsyncConnection, candidature_id: str) -> Any:
    return (await conn.execute(select(candidatures).where(candidatures.c.candidature_id == candidature_id))).first()


async def partnership(conn: AsyncConnection, partnership_id: str, school_year: str | None = None) -> Any:
    query = select(partnerships).where(partnerships.c.partnership_id == partnership_id)
    if school_year:
        query = query.where(partnerships.c.school_year == school_year)
    return (await conn.execute(query.order_by(partnerships.c.year_index.desc()))).first()


async def active_referents(conn: AsyncConnection, partnership_id: str, school_year: str | None) -> list[Any]:
    query = select(referents).where(referents.c.partnership_id == partnership_id, referents.c.active.is_(True))
    if school_year:
        query = query.where(referents.c.school_year == school_year)
    return list((await conn.execute(query.order_by(referents.c.side, referents.c.referent_id))).all())


async def partnerships_of_referent(conn: AsyncConnection, email: str) -> list[str]:
    query = select(referents.c.partnership_id).where(func.lower(referents.c.email) == email.lower()).distinct()
    return [r[0] for r in (await conn.execute(query)).all()]


async def academie_contact(conn: AsyncConnection, academie: str, role: str) -> Any:
    return (await conn.execute(select(contacts).where(contacts.c.academie == academie, contacts.c.role == role))).first()


async def rule_overrides(conn: AsyncConnection, academie: str) -> list[RuleOverride]:
    rows = (await conn.execute(select(overrides).where(overrides.c.academie == academie))).all()
    return [RuleOverride(academie=r.academie, dispositif=r.dispositif, rule=r.rule, enabled=r.enabled,
                         offset_days=r.offset_days, at=time.fromisoformat(r.at_time) if r.at_time else None,
                         fixed_date=r.fixed_date) for r in rows]


async def all_overrides(conn: AsyncConnection) -> list[Any]:
    return list((await conn.execute(select(overrides).order_by(overrides.c.academie, overrides.c.rule))).all())


# -- calendar items and feeds ------------------------------------------------------------------------

async def save_calendar_item(conn: AsyncConnection, now: datetime, **values: Any) -> None:
    """Insert the item or, when something shown changed, update it and raise its SEQUENCE."""
    current = (await conn.execute(select(calendar_items).where(calendar_items.c.uid == values["uid"]))).first()
    if current is None:
        await conn.execute(insert(calendar_items).values(sequence=0, updated_at=now, **values))
        return
    shown = ("summary", "starts_at", "ends_at", "place", "status", "description", "all_day")
    changed = any(k in values and getattr(current, k) != values[k] for k in shown)
    if changed:
        await conn.execute(update(calendar_items).where(calendar_items.c.uid == values["uid"])
                           .values(sequence=current.sequence + 1, updated_at=now, **values))


async def calendar_item(conn: AsyncConnection, uid: str) -> Any:
    return (await conn.execute(select(calendar_items).where(calendar_items.c.uid == uid))).first()


async def work_meetings_left(conn: AsyncConnection, partnership_id: str, school_year: str | None,
                             but: str) -> int:
    """How many work meetings of the partnership's year are still on the calendar, ``but`` one."""
    query = select(func.count()).select_from(calendar_items).where(
        calendar_items.c.partnership_id == partnership_id, calendar_items.c.meeting_kind == "work",
        calendar_items.c.status != "CANCELLED", calendar_items.c.uid != but)
    if school_year:
        query = query.where(calendar_items.c.school_year == school_year)
    return int(await conn.scalar(query) or 0)


async def items_for_feed(conn: AsyncConnection, kind: str, key: str, academie: str = "*") -> list[Any]:
    query = select(calendar_items)
    if kind == "partnership":
        query = query.where(calendar_items.c.partnership_id == key)
    elif kind == "school":
        query = query.where(calendar_items.c.uai == key)
    elif kind == "referent":
        ids = select(referents.c.partnership_id).where(func.lower(referents.c.email) == key.lower())
        query = query.where(calendar_items.c.partnership_id.in_(ids))
    else:
        return []
    if academie != "*":
        query = query.where(calendar_items.c.academie == academie)
    return list((await conn.execute(query.order_by(calendar_items.c.starts_at, calendar_items.c.uid))).all())


def _feed_row(kind: str, key: str, academie: str):
    return (feeds.c.kind == kind, feeds.c.key == key, feeds.c.academie == academie)


async def feed_token(conn: AsyncConnection, kind: str, key: str, now: datetime, academie: str = "*") -> str:
    """The view's token, created on first use: 32 random bytes, unguessable, stored."""
    found = await conn.scalar(select(feeds.c.token).where(*_feed_row(kind, key, academie)))
    if found:
        return found
    token = secrets.token_urlsafe(32)
    stmt = _insert(conn)(feeds).values(token=token, kind=kind, key=key, academie=academie, created_at=now)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["kind", "key", "academie"]))
    return await conn.scalar(select(feeds.c.token).where(*_feed_row(kind, key, academie)))


async def revoke_feed(conn: AsyncConnection, kind: str, key: str, now: datetime, academie: str = "*") -> int:
    """The view's URL stops serving (kept as revoked, so it answers 410); the next
    :func:`feed_token` issues a new one. How many URLs were revoked (0 or 1)."""
    rows = (await conn.execute(select(feeds).where(*_feed_row(kind, key, academie)).with_for_update())).all()
    for row in rows:
        await conn.execute(insert(feeds_revoked).values(token=row.token, kind=row.kind, key=row.key,
                                                        academie=row.academie, created_at=row.created_at,
                                                        revoked_at=now))
        await conn.execute(feeds.delete().where(feeds.c.token == row.token))
    return len(rows)


async def feed_by_token(conn: AsyncConnection, token: str) -> Any:
    return (await conn.execute(select(feeds).where(feeds.c.token == token))).first()


async def revoked_feed(conn: AsyncConnection, token: str) -> Any:
    return (await conn.execute(select(feeds_revoked).where(feeds_revoked.c.token == token))).first()


async def referent_academies(conn: AsyncConnection, email: str) -> set[str]:
    """The académies of the partnerships ``email`` is (or was) named a referent of."""
    query = select(partnerships.c.academie).where(partnerships.c.partnership_id.in_(
        select(referents.c.partnership_id).where(func.lower(referents.c.email) == email.lower()))).distinct()
    return {r[0] for r in (await conn.execute(query)).all()}


async def school_known(conn: AsyncConnection, uai: str) -> bool:
    """Whether any partnership or candidature of the school is known here."""
    for table in (partnerships, candidatures):
        if await conn.scalar(select(table.c.uai).where(table.c.uai == uai).limit(1)) is not None:
            return True
    return False


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def pending_timers_of_partnership(conn: AsyncConnection, partnership_id: str) -> list[Any]:
    query = select(timers).where(timers.c.partnership_id == partnership_id, timers.c.status == "pending")
    return list((await conn.execute(query.with_for_update())).all())


async def update_timers(conn: AsyncConnection, changes: list[tuple[str, dict[str, Any]]]) -> None:
    """Many timer rows at once: one executemany per shape of change."""
    from sqlalchemy import bindparam

    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for reminder_id, values in changes:
        by_shape.setdefault(tuple(sorted(values)), []).append({"rid": reminder_id, **{f"v_{k}": v for k, v in values.items()}})
    for shape, params in by_shape.items():
        stmt = update(timers).where(timers.c.reminder_id == bindparam("rid")).values(
            **{k: bindparam(f"v_{k}") for k in shape})
        await conn.execute(stmt, params)


async def batch_facts(conn: AsyncConnection, rows: list[Any]) -> dict[str, Any]:
    """Everything composing a batch's messages reads, in a handful of queries."""
    pids = sorted({r.partnership_id for r in rows if r.partnership_id})
    cids = sorted({r.campaign_id for r in rows if r.campaign_id})
    cands = sorted({r.scope_id for r in rows if r.scope == "candidature"})
    academies = sorted({r.academie for r in rows})
    uids = sorted({f"action-{r.partnership_id}.{r.action_id}@jumelage.notifications" for r in rows if r.action_id} |
                  {f"meeting-{r.partnership_id}.{r.meeting_id}@jumelage.notifications" for r in rows if r.meeting_id})
    facts: dict[str, Any] = {"partnerships": {}, "referents": {}, "campaigns": {}, "candidatures": {}, "items": {},
                             "tokens": {}, "contacts": {}}
    if pids:
        for p in (await conn.execute(select(partnerships).where(partnerships.c.partnership_id.in_(pids)))).all():
            facts["partnerships"][(p.partnership_id, p.school_year)] = p
            facts["partnerships"].setdefault((p.partnership_id, None), p)
        query = select(referents).where(referents.c.partnership_id.in_(pids), referents.c.active.is_(True))
        for ref in (await conn.execute(query.order_by(referents.c.side, referents.c.referent_id))).all():
            facts["referents"].setdefault(ref.partnership_id, []).append(ref)  # every year: see domain/referents.py
        query = select(feeds).where(feeds.c.kind == "partnership", feeds.c.key.in_(pids), feeds.c.academie == "*")
        facts["tokens"] = {f.key: f.token for f in (await conn.execute(query)).all()}
    if cids:
        facts["campaigns"] = {c.campaign_id: c for c in (await conn.execute(
            select(campaigns).where(campaigns.c.campaign_id.in_(cids)))).all()}
    if cands:
        facts["candidatures"] = {c.candidature_id: c for c in (await conn.execute(
            select(candidatures).where(candidatures.c.candidature_id.in_(cands)))).all()}
    if uids:
        facts["items"] = {i.uid: i for i in (await conn.execute(
            select(calendar_items).where(calendar_items.c.uid.in_(uids)))).all()}
    for c in (await conn.execute(select(contacts).where(contacts.c.academie.in_(academies)))).all():
        facts["contacts"].setdefault(c.academie, {})[c.role] = c
    return facts


# -- effects before causes ---------------------------------------------------------------------------

async def park(conn: AsyncConnection, envelope: Any, waiting_for: str, now: datetime) -> None:
    await conn.execute(insert(parked).values(event_id=str(envelope.id), waiting_for=waiting_for[:400],
                                             type=envelope.type, envelope=envelope.model_dump(mode="json"),
                                             parked_at=now))


async def take_parked(conn: AsyncConnection, waiting_for: str) -> list[Any]:
    """The events held for ``waiting_for``, in the order they were held, removed from the table."""
    from sqlalchemy import delete

    rows = list((await conn.execute(select(parked).where(parked.c.waiting_for == waiting_for[:400])
                                    .order_by(parked.c.seq))).all())
    if rows:
        await conn.execute(delete(parked).where(parked.c.seq.in_([r.seq for r in rows])))
    return rows


async def count_parked(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(parked)) or 0)


async def settle(conn: AsyncConnection, key: str, event_id: str | None) -> None:
    stmt = _insert(conn)(settled).values(key=key[:400], event_id=event_id)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))


async def is_settled(conn: AsyncConnection, key: str) -> bool:
    return await conn.scalar(select(settled.c.key).where(settled.c.key == key[:400])) is not None
