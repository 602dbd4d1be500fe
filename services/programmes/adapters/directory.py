"""The directory of partnerships: one row per partnership (who, which académie, current year,
status) so that a school, a partner or an académie can list theirs without folding every stream.

Only year-level events change a row (``ProgrammeYearOpened``, ``PartnershipEnded``); they are
projected in the transaction that appends them, so a listed partnership always exists and is
never behind its stream's year. The streams stay the truth: the table is a query convenience.
On the in-memory store (unit tests) the same port is a dict.

Retention (RGPD): ``prog_referents`` lists the partnerships each referent was designated on
(``ReferentDesignated``, projected the same way) and ``retention_expired_year`` the last year of a
partnership whose retention ran out (notifications' ``RetentionExpired``, written in the
consumer's transaction); :meth:`retention_state` reads what ``domain.retention`` decides on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import Column, Integer, MetaData, String, Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jumelage_contracts import Envelope, EventData
from jumelage_contracts.programmes import PartnershipEnded, ProgrammeYearOpened, ReferentDesignated

from programmes.domain.retention import PartnershipYears, RetentionState

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DIRECTORY_EVENTS = (ProgrammeYearOpened, PartnershipEnded, ReferentDesignated)

metadata = MetaData()
partnerships = Table(
    "prog_partnerships", metadata,
    Column("partnership_id", String(200), primary_key=True),
    Column("academie", String(50)), Column("uai", String(8)), Column("partner_id", String(200)),
    Column("dispositif", String(30)), Column("school_name", String(300)), Column("partner_name", String(300)),
    Column("school_year", String(9)), Column("year_index", Integer), Column("status", String(20)),
    Column("ended_reason", String(50)),
    # plan mercredi: the ACM organiser holding the school side (a partner structure: its token's scope)
    Column("organiser_id", String(200)),
    Column("retention_expired_year", Integer),  # the last year whose retention ran out (RGPD)
)
COLUMNS = [c.name for c in partnerships.c]
LISTED = [c for c in partnerships.c if c.name != "retention_expired_year"]  # the listing's shape is unchanged
referents = Table(
    "prog_referents", metadata,
    Column("referent_id", String(200), primary_key=True), Column("partnership_id", String(200), primary_key=True),
)


@dataclass(frozen=True)
class Filters:
    """What a caller may see (scope) and asks for (optional filters)."""

    academie: str | None = None
    uai: str | None = None
    partner_id: str | None = None
    school_year: str | None = None
    dispositif: str | None = None
    status: str | None = None

    def items(self) -> Iterable[tuple[str, str]]:
        return ((k, v) for k, v in self.__dict__.items() if v is not None)


def touches_directory(events: Iterable[EventData]) -> bool:
    return any(isinstance(e, DIRECTORY_EVENTS) for e in events)


def _opened_row(event: ProgrammeYearOpened) -> dict[str, Any]:
    return {
        "partnership_id": event.partnership_id, "academie": event.academie.value, "uai": event.uai,
        "partner_id": event.partner.partner_id if event.partner else None, "dispositif": event.dispositif.value,
        "school_name": event.school_side_name, "partner_name": event.partner.name if event.partner else None,
        "school_year": event.school_year, "year_index": event.year_index, "status": "running", "ended_reason": None,
        "organiser_id": event.organiser.partner_id if event.organiser else None,
    }


def _matches(row: dict[str, Any], key: str, value: str) -> bool:
    """A partner sees the partnerships it is the partner of, and those it organises (ACM)."""
    return row[key] == value or (key == "partner_id" and row.get("organiser_id") == value)


class SqlDirectory:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def project(self, tx: Any, envelopes: Iterable[Envelope], events: Iterable[EventData]) -> None:
        conn = tx.connection
        for event in events:
            if isinstance(event, ProgrammeYearOpened):
                row = _opened_row(event)
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                stmt = dialect.insert(partnerships).values(**row)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["partnership_id"], set_={k: v for k, v in row.items() if k != "partnership_id"}))
            elif isinstance(event, PartnershipEnded):
                await conn.execute(update(partnerships).where(partnerships.c.partnership_id == event.partnership_id)
                                   .values(status="ended", ended_reason=event.reason))
            elif isinstance(event, ReferentDesignated):
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                await conn.execute(dialect.insert(referents).values(
                    referent_id=event.referent_id, partnership_id=event.partnership_id).on_conflict_do_nothing())

    async def retention_state(self, tx: Any, partnership_id: str) -> RetentionState:
        """What deciding an expiry of ``partnership_id`` needs: its people, every partnership of
        theirs and how far each is from its retention (erasures are the keyring's, not read here)."""
        conn = tx.connection
        people = select(referents.c.referent_id).where(referents.c.partnership_id == partnership_id)
        rows = (await conn.execute(select(referents.c.referent_id, referents.c.partnership_id)
                                   .where(referents.c.referent_id.in_(people)))).all()
        designations: dict[str, frozenset[str]] = {}
        for row in rows:
            designations[row.referent_id] = designations.get(row.referent_id, frozenset()) | {row.partnership_id}
        wanted = {partnership_id} | {row.partnership_id for row in rows}
        years = (await conn.execute(select(partnerships.c.partnership_id, partnerships.c.year_index,
                                           partnerships.c.retention_expired_year)
                                    .where(partnerships.c.partnership_id.in_(sorted(wanted))))).all()
        return RetentionState(
            partnerships={y.partnership_id: PartnershipYears(y.year_index, y.retention_expired_year) for y in years},
            designations=designations)

    async def record_retention_expired(self, tx: Any, partnership_id: str, year_index: int) -> None:
        await tx.connection.execute(
            update(partnerships).where(partnerships.c.partnership_id == partnership_id,
                                       or_(partnerships.c.retention_expired_year.is_(None),
                                           partnerships.c.retention_expired_year < year_index))
            .values(retention_expired_year=year_index))

    async def list(self, filters: Filters, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        where = [or_(partnerships.c.partner_id == v, partnerships.c.organiser_id == v) if k == "partner_id"
                 else partnerships.c[k] == v for k, v in filters.items()]
        async with self.engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(partnerships).where(*where))
            rows = await conn.execute(select(*LISTED).where(*where)
                                      .order_by(partnerships.c.academie, partnerships.c.partnership_id)
                                      .limit(limit).offset(offset))
            return int(total or 0), [dict(r._mapping) for r in rows]


class MemoryDirectory:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.referents: set[tuple[str, str]] = set()  # (referent_id, partnership_id)

    async def project(self, tx: Any, envelopes: Iterable[Envelope], events: Iterable[EventData]) -> None:
        for event in events:
            if isinstance(event, ProgrammeYearOpened):
                expired = self.rows.get(event.partnership_id, {}).get("retention_expired_year")
                self.rows[event.partnership_id] = {**_opened_row(event), "retention_expired_year": expired}
            elif isinstance(event, PartnershipEnded) and event.partnership_id in self.rows:
                self.rows[event.partnership_id].update(status="ended", ended_reason=event.reason)
            elif isinstance(event, ReferentDesignated):
                self.referents.add((event.referent_id, event.partnership_id))

    async def retention_state(self, tx: Any, partnership_id: str) -> RetentionState:
        people = {person for person, pid in self.referents if pid == partnership_id}
        designations: dict[str, frozenset[str]] = {}
        for person, pid in self.referents:
            if person in people:
                designations[person] = designations.get(person, frozenset()) | {pid}
        wanted = {partnership_id, *(p for ps in designations.values() for p in ps)}
        return RetentionState(
            partnerships={pid: PartnershipYears(row["year_index"], row.get("retention_expired_year"))
                          for pid, row in self.rows.items() if pid in wanted},
            designations=designations)

    async def record_retention_expired(self, tx: Any, partnership_id: str, year_index: int) -> None:
        row = self.rows.get(partnership_id)
        if row is not None and (row.get("retention_expired_year") or 0) < year_index:
            row["retention_expired_year"] = year_index

    async def list(self, filters: Filters, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        rows = [r for r in self.rows.values() if all(_matches(r, k, v) for k, v in filters.items())]
        rows.sort(key=lambda r: (r["academie"], r["partnership_id"]))
        return len(rows), [{k: v for k, v in r.items() if k != "retention_expired_year"}
                           for r in rows[offset: offset + limit]]


def directory_for(store: Any) -> SqlDirectory | MemoryDirectory:
    engine = getattr(store, "engine", None)
    return SqlDirectory(engine) if engine is not None else MemoryDirectory()
