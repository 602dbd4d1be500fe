"""Read tables of the candidatures service and the projection that keeps them.

``project`` runs inside the transaction that appends the events (``tx.connection``), so a row is
never behind or ahead of its stream. The tables are a query convenience: the streams are the
truth, and every write decision is taken on a folded stream, never on a row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, bindparam, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from eventkit.sql import UtcDateTime
from jumelage_contracts import Envelope, EventData
from jumelage_contracts import candidatures as ev

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

metadata = MetaData()

campaigns = Table(
    "cand_campaigns", metadata,
    Column("campaign_id", String(200), primary_key=True),
    Column("academie", String(50)), Column("dispositif", String(30)), Column("school_year", String(9)),
    Column("title", String(300)), Column("status", String(20)), Column("submission_deadline", UtcDateTime()),
    Column("version", Integer), Column("data", JSON),
)

offers = Table(
    "cand_offers", metadata,
    Column("offer_id", String(200), primary_key=True),
    Column("campaign_id", String(200)), Column("academie", String(50)), Column("partner_id", String(200)),
    Column("status", String(20)), Column("capacity_classes", Integer), Column("reserved_classes", Integer),
    Column("version", Integer), Column("data", JSON),
)

candidatures = Table(
    "cand_candidatures", metadata,
    Column("candidature_id", String(200), primary_key=True),
    Column("campaign_id", String(200)), Column("academie", String(50)), Column("departement", String(3)),
    Column("uai", String(8)), Column("school_name", String(300)), Column("education_prioritaire", String(10)),
    Column("dispositif", String(30)), Column("tier", String(20)), Column("status", String(30)),
    Column("offer_id", String(200)), Column("partner_id", String(200)), Column("partnership_id", String(200)),
    Column("year_index", Integer), Column("classes", Integer), Column("pupils", Integer), Column("avis", String(20)),
    Column("version", Integer), Column("updated_at", UtcDateTime()), Column("data", JSON),
    Column("organiser_id", String(200)),
)

CONTENT_EVENTS = (ev.CandidatureDrafted, ev.CandidatureSubmitted, ev.CandidatureAmended, ev.CandidatureResubmitted)
STATUS_OF_CONTENT = {
    ev.CandidatureDrafted: "draft", ev.CandidatureSubmitted: "submitted",
    ev.CandidatureAmended: "submitted", ev.CandidatureResubmitted: "submitted",
}


class RowConflict(Exception):
    """A read-table uniqueness (a campaign id, or one open campaign per académie, dispositif and
    school year) refused a row: another transaction got there first. The write rolls back whole
    and is decided again on the fresh data."""


async def project(conn: AsyncConnection, envelope: Envelope, event: EventData) -> None:
    """Apply one stored event (with its stream version) to the read tables."""
    handler = _PROJECTORS.get(type(event))
    if handler is not None:
        await handler(conn, envelope, event)


async def _campaign_opened(conn, env: Envelope, e: ev.CampaignOpened) -> None:
    try:
        await conn.execute(campaigns.insert().values(
            campaign_id=e.campaign_id, academie=e.academie.value, dispositif=e.dispositif.value,
            school_year=e.school_year, title=e.title, status="open",
            submission_deadline=e.calendar.submission_deadline, version=env.stream_version,
            data=e.model_dump(mode="json"),
        ))
    except IntegrityError as exc:
        raise RowConflict(f"campaign {e.campaign_id}: {e.academie.value}/{e.dispositif.value}/{e.school_year}") \
            from exc


async def _campaign_closed(conn, env: Envelope, e: ev.CampaignClosed) -> None:
    await conn.execute(update(campaigns).where(campaigns.c.campaign_id == e.campaign_id)
                       .values(status="closed", version=env.stream_version))


async def _offer_published(conn, env: Envelope, e: ev.OfferPublished | ev.OfferUpdated) -> None:
    values = dict(campaign_id=e.campaign_id, academie=e.academie.value, partner_id=e.partner.partner_id,
                  capacity_classes=e.capacity_classes, version=env.stream_version,
                  data=e.model_dump(mode="json", exclude={"type"}))
    if isinstance(e, ev.OfferPublished):
        await conn.execute(offers.insert().values(offer_id=e.offer_id, status="published", reserved_classes=0,
                                                  **values))
    else:
        await conn.execute(update(offers).where(offers.c.offer_id == e.offer_id).values(**values))


async def _offer_withdrawn(conn, env: Envelope, e: ev.OfferWithdrawn) -> None:
    await conn.execute(update(offers).where(offers.c.offer_id == e.offer_id)
                       .values(status="withdrawn", version=env.stream_version))


async def _offer_reserved(conn, env: Envelope, e: ev.OfferCapacityReserved) -> None:
    await conn.execute(update(offers).where(offers.c.offer_id == e.offer_id).values(
        reserved_classes=offers.c.reserved_classes + e.classes, version=env.stream_version))


async def _offer_released(conn, env: Envelope, e: ev.OfferPlacesReleased) -> None:
    await conn.execute(update(offers).where(offers.c.offer_id == e.offer_id).values(
        reserved_classes=offers.c.reserved_classes - e.classes, version=env.stream_version))


CONTENT_COLUMNS = ("campaign_id", "academie", "departement", "uai", "school_name", "education_prioritaire",
                   "dispositif", "tier", "status", "offer_id", "classes", "pupils", "version", "updated_at", "data",
                   "organiser_id")
# Built once: a statement made per request costs more CPU (construction, cache key) than running it.
# ``partner_id`` is the wished offer's partner, looked up in the same statement, else the partner
# or company wished (a plain value).
_OFFER_PARTNER = select(offers.c.partner_id).where(offers.c.offer_id == bindparam("offer_ref")).scalar_subquery()
_CONTENT_VALUES = {name: bindparam(name, type_=candidatures.c[name].type) for name in CONTENT_COLUMNS}
_INSERT_CONTENT = {
    True: candidatures.insert().values(candidature_id=bindparam("key"), partner_id=_OFFER_PARTNER,
                                       **_CONTENT_VALUES),
    False: candidatures.insert().values(candidature_id=bindparam("key"), partner_id=bindparam("partner"),
                                        **_CONTENT_VALUES),
}
_UPDATE_CONTENT = {
    True: update(candidatures).where(candidatures.c.candidature_id == bindparam("key"))
    .values(partner_id=_OFFER_PARTNER, **_CONTENT_VALUES),
    False: update(candidatures).where(candidatures.c.candidature_id == bindparam("key"))
    .values(partner_id=bindparam("partner"), **_CONTENT_VALUES),
}


def _wished_partner_id(e) -> str | None:
    if e.partner_wished is not None:
        return e.partner_wished.partner_id
    if e.partner_company is not None:
        return e.partner_company.partner_id
    return None


def _applicant(e) -> dict:
    """The row's applicant columns: the school, or an ACM organiser with no school (no UAI; its
    groups' children are counted as the row's pupils, its groups as its classes)."""
    if e.organiser is None:
        return dict(academie=e.school.academie.value, departement=e.school.departement, uai=e.school.uai,
                    school_name=e.school.name, education_prioritaire=e.school.education_prioritaire.value,
                    organiser_id=None)
    o = e.organiser
    return dict(academie=o.academie.value, departement=o.departement, uai=e.school.uai if e.school else None,
                school_name=o.name, education_prioritaire=(e.school.education_prioritaire.value if e.school
                                                           else "none"),
                classes=len(o.groups), pupils=sum(g.children for g in o.groups), organiser_id=o.partner_id)


async def _content(conn, env: Envelope, e) -> None:
    params = dict(
        key=e.candidature_id, campaign_id=e.campaign_id, dispositif=e.dispositif.value,
        tier=e.tier.value if e.tier else None, status=STATUS_OF_CONTENT[type(e)], offer_id=e.offer_id,
        classes=len(e.classes), pupils=sum(c.pupils for c in e.classes), version=env.stream_version,
        updated_at=env.occurred_at, data=e.model_dump(mode="json", exclude={"type"}),
    )
    params.update(_applicant(e))
    by_offer = e.offer_id is not None
    if by_offer:
        params["offer_ref"] = e.offer_id
    else:
        params["partner"] = _wished_partner_id(e)
    # The stream starts at version 1: one INSERT, no probing UPDATE. A row already there means the
    # command was decided on a stream it took for new (an id the client chose, and took twice):
    # decided again on the stream read (RowConflict), where the decider answers for what it holds.
    if env.stream_version != 1:
        await conn.execute(_UPDATE_CONTENT[by_offer], params)
        return
    try:
        await conn.execute(_INSERT_CONTENT[by_offer], params)
    except IntegrityError as exc:
        raise RowConflict(f"candidature {e.candidature_id} exists") from exc


async def _set(conn, env: Envelope, candidature_id: str, **values: Any) -> None:
    await conn.execute(update(candidatures).where(candidatures.c.candidature_id == candidature_id)
                       .values(version=env.stream_version, updated_at=env.occurred_at, **values))


async def _status(conn, env: Envelope, e) -> None:
    status = {ev.CandidatureWithdrawn: "withdrawn", ev.CandidatureReturnedForCorrection: "returned",
              ev.CandidatureRejected: "rejected"}[type(e)]
    await _set(conn, env, e.candidature_id, status=status)


async def _reviewed(conn, env: Envelope, e: ev.CandidatureReviewed) -> None:
    await _set(conn, env, e.candidature_id, status="under_review", avis=e.avis.value)


async def _attributed(conn, env: Envelope, e: ev.PartnershipAttributed) -> None:
    await _set(conn, env, e.candidature_id, status="attributed", partnership_id=e.partnership_id, year_index=1,
               partner_id=e.partner.partner_id if e.partner else None)


async def _renewal(conn, env: Envelope, e) -> None:
    """Partnership events only move the version (and the year on a grant): the renewal state is
    read from the stream itself."""
    stmt = update(candidatures).where(candidatures.c.partnership_id == e.partnership_id)
    values: dict[str, Any] = {"version": env.stream_version, "updated_at": env.occurred_at}
    if isinstance(e, ev.RenewalGranted):
        values["year_index"] = e.year_index
    await conn.execute(stmt.values(**values))


_PROJECTORS = {
    ev.CampaignOpened: _campaign_opened, ev.CampaignClosed: _campaign_closed,
    ev.OfferPublished: _offer_published, ev.OfferUpdated: _offer_published, ev.OfferWithdrawn: _offer_withdrawn,
    ev.OfferCapacityReserved: _offer_reserved, ev.OfferPlacesReleased: _offer_released,
    **{kind: _content for kind in CONTENT_EVENTS},
    ev.CandidatureWithdrawn: _status, ev.CandidatureReturnedForCorrection: _status, ev.CandidatureRejected: _status,
    ev.CandidatureReviewed: _reviewed, ev.PartnershipAttributed: _attributed,
    ev.PartnershipBilanNoted: _renewal, ev.RenewalRequested: _renewal, ev.RenewalGranted: _renewal,
    ev.RenewalDeclined: _renewal,
}


# -- queries --------------------------------------------------------------------------------


def _row(row) -> dict[str, Any]:
    out = dict(row._mapping)
    for key, value in list(out.items()):
        if hasattr(value, "isoformat"):
            out[key] = value.isoformat()
    return out


async def list_campaigns(conn, *, academie: str | None = None, dispositif: str | None = None,
                         school_year: str | None = None) -> list[dict]:
    query = select(campaigns).order_by(campaigns.c.school_year.desc(), campaigns.c.campaign_id)
    for column, value in ((campaigns.c.academie, academie), (campaigns.c.dispositif, dispositif),
                          (campaigns.c.school_year, school_year)):
        if value is not None:
            query = query.where(column == value)
    return [_row(r) for r in await conn.execute(query)]


async def list_offers(conn, *, campaign_id: str | None = None, partner_id: str | None = None,
                      status: str | None = None) -> list[dict]:
    query = select(offers).order_by(offers.c.offer_id)
    for column, value in ((offers.c.campaign_id, campaign_id), (offers.c.partner_id, partner_id),
                          (offers.c.status, status)):
        if value is not None:
            query = query.where(column == value)
    return [_row(r) for r in await conn.execute(query)]


FILTERS = ("status", "uai", "dispositif", "offer_id", "partner_id", "departement", "education_prioritaire",
           "tier", "avis")


async def list_candidatures(conn, campaign_id: str, *, limit: int = 500, offset: int = 0,
                            **filters: str | None) -> tuple[int, list[dict]]:
    query = select(candidatures).where(candidatures.c.campaign_id == campaign_id)
    for name in FILTERS:
        if filters.get(name) is not None:
            query = query.where(candidatures.c[name] == filters[name])
    partner = filters.get("addressed_to_or_organised_by")
    if partner is not None:  # a partner's scope: the candidatures naming it, and its own as an ACM organiser
        query = query.where(or_(candidatures.c.partner_id == partner, candidatures.c.organiser_id == partner))
    total = await conn.scalar(select(func.count()).select_from(query.subquery()))
    rows = await conn.execute(query.order_by(candidatures.c.candidature_id).limit(limit).offset(offset))
    return int(total or 0), [_row(r) for r in rows]


async def open_campaigns_due(conn, now) -> list[str]:
    query = select(campaigns.c.campaign_id).where(campaigns.c.status == "open",
                                                  campaigns.c.submission_deadline < now)
    return [r.campaign_id for r in await conn.execute(query)]


async def open_campaign_for(conn, academie: str, dispositif: str, school_year: str) -> str | None:
    """The open campaign of this académie for this dispositif and school year, if any."""
    return await conn.scalar(select(campaigns.c.campaign_id).where(
        campaigns.c.academie == academie, campaigns.c.dispositif == dispositif,
        campaigns.c.school_year == school_year, campaigns.c.status == "open"))


async def one(conn, table: Table, key: str) -> dict | None:
    pk = list(table.primary_key.columns)[0]
    row = (await conn.execute(select(table).where(pk == key))).first()
    return _row(row) if row is not None else None


async def submission_context(conn, campaign_id: str, offer_id: str | None):
    """The campaign and wished offer a submission is checked against, as decider states, in one
    query each on one connection. They come from rows written in the transactions that appended
    their events, so they are exactly as current as the streams; the candidature itself is still
    decided on its folded stream (and attribution reads the offer STREAM, whose version it pins)."""
    from candidatures.domain import campaign as campaign_decider
    from candidatures.domain import offer as offer_decider

    row = (await conn.execute(_SUBMISSION_CONTEXT, {"campaign_key": campaign_id, "offer_key": offer_id})).one()
    if row.campaign_status is None:
        camp = campaign_decider.NoCampaign()
    else:
        opened = ev.CampaignOpened.model_validate(row.campaign_data)
        camp = (campaign_decider.Open(opened) if row.campaign_status == "open"
                else campaign_decider.Closed(opened, "closed"))
    wished = None
    if offer_id is not None:
        if row.offer_status is None:
            wished = offer_decider.NoOffer()
        else:
            published = ev.OfferPublished.model_validate(row.offer_data)
            kind = offer_decider.Published if row.offer_status == "published" else offer_decider.Withdrawn
            wished = kind(published, row.reserved_classes)
    return camp, wished


# The campaign and the wished offer in ONE round trip: a one-row anchor, each table left-joined on
# its key (an unknown campaign or offer, or no offer wished, leaves its columns NULL).
_ANCHOR = select(literal(1).label("one")).subquery("anchor")
_SUBMISSION_CONTEXT = (
    select(campaigns.c.status.label("campaign_status"), campaigns.c.data.label("campaign_data"),
           offers.c.status.label("offer_status"), offers.c.data.label("offer_data"), offers.c.reserved_classes)
    .select_from(_ANCHOR.outerjoin(campaigns, campaigns.c.campaign_id == bindparam("campaign_key"))
                 .outerjoin(offers, offers.c.offer_id == bindparam("offer_key")))
)


async def candidature_of_partnership(conn, partnership_id: str) -> str | None:
    return await conn.scalar(select(candidatures.c.candidature_id)
                             .where(candidatures.c.partnership_id == partnership_id))
