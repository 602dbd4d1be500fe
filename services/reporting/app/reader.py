"""Query use cases: scope checks, the generation to read, a consistent read connection."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import date
from typing import Any, AsyncIterator

from fastapi import HTTPException
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jumelage_contracts import Role
from jumelage_contracts.reference import academie_of_uai

from eventkit.auth import Principal
from reporting.adapters import queries
from reporting.adapters.queries import Filters
from reporting.adapters.tables import Generation


def scoped(principal: Principal, flt: Filters) -> Filters:
    """An académie reads its own académie only (403 otherwise); national and admin read all."""
    if principal.is_global():
        return flt
    if principal.role == Role.academie:
        if flt.academie not in (None, principal.scope):
            raise HTTPException(status_code=403, detail=f"académie {principal.scope} cannot read {flt.academie}")
        return Filters(**{**flt.as_dict(), "academie": principal.scope})
    raise HTTPException(status_code=403, detail=f"role {principal.role.value} cannot read the reporting")


def check_row_scope(principal: Principal, academie: str | None, uai: str | None = None) -> None:
    if principal.is_global():
        return
    if principal.role == Role.academie and academie == principal.scope:
        return
    if principal.role == Role.school and uai is not None and uai == principal.scope:
        return
    raise HTTPException(status_code=403, detail="outside your scope")


def academie_of_uai_or_none(uai: str) -> str | None:
    """The académie a UAI's département belongs to (None for a UAI that is not one: then only
    national, admin or that very school may ask)."""
    try:
        return academie_of_uai(uai).value
    except ValueError:
        return None


class Reader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[tuple[AsyncConnection, Generation]]:
        # No write lock for readers (SQLite would otherwise take BEGIN IMMEDIATE); on PostgreSQL a
        # repeatable-read snapshot keeps the figures of one answer consistent with each other.
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            else:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn, await queries.current_generation(conn)

    async def run(self, fn, *args: Any) -> Any:
        """Run ``fn(conn, generation, *args)``; retried once if a rebuild dropped the generation
        between reading its number and reading its tables."""
        for attempt in (1, 2):
            try:
                async with self._read() as (conn, gen):
                    return await fn(conn, gen, *args)
            except (ProgrammingError, OperationalError, DBAPIError) as exc:
                if attempt == 2 or "rpt_g" not in str(exc):
                    raise

    async def indicators(self, principal: Principal, as_of: date, flt: Filters) -> dict[str, Any]:
        flt = scoped(principal, flt)
        values = await self.run(queries.indicators, as_of, flt)
        return {"as_of": as_of.isoformat(), "filters": flt.as_dict(), "indicators": values}

    async def breakdown(self, principal: Principal, as_of: date, flt: Filters, by: str,
                        offset: int = 0, limit: int = 1000) -> dict[str, Any]:
        flt = scoped(principal, flt)
        rows = await self.run(queries.breakdown, as_of, flt, by)
        return {"as_of": as_of.isoformat(), "filters": flt.as_dict(), "by": by, "total": len(rows),
                "offset": offset, "limit": limit, "items": rows[offset:offset + limit]}

    async def partnerships(self, principal: Principal, as_of: date, flt: Filters, uai: str | None,
                           offset: int, limit: int) -> dict[str, Any]:
        flt = scoped(principal, flt)
        total, items = await self.run(queries.partnerships, as_of, flt, uai, offset, limit)
        return {"as_of": as_of.isoformat(), "total": total, "offset": offset, "limit": limit, "items": items}

    async def timeline(self, principal: Principal, partnership_id: str, as_of: date) -> dict[str, Any]:
        async def fetch(conn, gen):
            found = await queries.partnership(conn, gen, partnership_id, as_of)
            if found is None:
                return None
            check_row_scope(principal, found["academie"], found["uai"])
            # the candidature's history (submitted, avis…) comes before the attribution
            subjects = ["partnership:" + partnership_id]
            if found["candidature_id"]:
                subjects.append("candidature:" + found["candidature_id"])
            return {"as_of": as_of.isoformat(), "partnership": found,
                    "classes": await queries.class_actions(conn, gen, partnership_id, as_of),
                    "timeline": await queries.timeline(conn, gen, subjects, as_of)}

        result = await self.run(fetch)
        if result is None:
            raise HTTPException(status_code=404, detail=f"no partnership {partnership_id}")
        return result

    async def school(self, principal: Principal, uai: str, as_of: date) -> dict[str, Any]:
        async def fetch(conn, gen):
            _, items = await queries.partnerships(conn, gen, as_of, Filters(), uai, 0, 10_000)
            return items, await queries.candidatures(conn, gen, as_of, uai)

        check_row_scope(principal, academie_of_uai_or_none(uai), uai)
        items, candidatures = await self.run(fetch)
        if principal.role == Role.academie:
            items = [i for i in items if i["academie"] == principal.scope]
            candidatures = [c for c in candidatures if c["academie"] == principal.scope]
        return {"as_of": as_of.isoformat(), "uai": uai, "partnerships": items, "candidatures": candidatures}

    async def lag(self) -> dict[str, Any]:
        async def fetch(conn, gen):
            return gen.number, await queries.lag_positions(conn, gen)

        number, positions = await self.run(fetch)
        return {"generation": number, "sources": positions}
