"""The directory of partnerships: one row per partnership (who, which académie, current year,
status) so that a school, a partner or an académie can list theirs without folding every stream.

Only year-level events change a row (``ProgrammeYearOpened``, ``PartnershipEnded``); they are
projected in the transaction that appends them, so a listed partnership always exists and is
never behind its stream's year. The streams stay the truth: the table is a query convenience.
On the in-memory store (unit tests) the same port is a dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import Column, Integer, MetaData, String, Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jumelage_contracts import Envelope, EventData
from jumelage_contracts.programmes import PartnershipEnded, ProgrammeYearOpened

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DIRECTORY_EVENTS = (ProgrammeYearOpened, PartnershipEnded)

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
)
COLUMNS = [c.name for c in partnerships.c]


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

    async def list(self, filters: Filters, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        where = [or_(partnerships.c.partner_id == v, partnerships.c.organiser_id == v) if k == "partner_id"
                 else partnerships.c[k] == v for k, v in filters.items()]
        async with self.engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(partnerships).where(*where))
            rows = await conn.execute(select(partnerships).where(*where)
                                      .order_by(partnerships.c.academie, partnerships.c.partnership_id)
                                      .limit(limit).offset(offset))
            return int(total or 0), [dict(r._mapping) for r in rows]


class MemoryDirectory:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def project(self, tx: Any, envelopes: Iterable[Envelope], events: Iterable[EventData]) -> None:
        for event in events:
            if isinstance(event, ProgrammeYearOpened):
                self.rows[event.partnership_id] = _opened_row(event)
            elif isinstance(event, PartnershipEnded) and event.partnership_id in self.rows:
                self.rows[event.partnership_id].update(status="ended", ended_reason=event.reason)

    async def list(self, filters: Filters, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        rows = [r for r in self.rows.values() if all(_matches(r, k, v) for k, v in filters.items())]
        rows.sort(key=lambda r: (r["academie"], r["partnership_id"]))
        return len(rows), [dict(r) for r in rows[offset: offset + limit]]


def directory_for(store: Any) -> SqlDirectory | MemoryDirectory:
    engine = getattr(store, "engine", None)
    return SqlDirectory(engine) if engine is not None else MemoryDirectory()
