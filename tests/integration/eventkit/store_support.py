"""Helpers of the event-store suites: envelopes, and a store of each kind (memory, SQLite,
PostgreSQL) built per test."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from eventkit.memory import InMemoryEventStore
from jumelage_contracts import Envelope
from jumelage_contracts.envelope import Actor, Role

# "postgres-portable": PostgreSQL through the portable append statement (as SQLite) instead of
# the server-side eventkit_append function, so both PostgreSQL paths stay proven.
STORE_KINDS = ["memory", "sqlite", "postgres", "postgres-portable"]
SQL_KINDS = ["sqlite", "postgres", "postgres-portable"]


def an_event(stream_id: str = "campaign-1", type_: str = "CampaignOpened", **data: Any) -> Envelope:
    return Envelope(
        type=type_,
        source="candidatures",
        stream_id=stream_id,
        occurred_at=datetime.now(timezone.utc),
        correlation_id=uuid.uuid4(),
        actor=Actor(role=Role.academie, id="paris"),
        academie="paris",
        data=data or {"dispositif": "culture", "annee_scolaire": "2025-2026"},
    )


@asynccontextmanager
async def database_url(kind: str, request: Any, tmp_path: Any) -> AsyncIterator[str]:
    """A fresh, empty database of ``kind`` ("sqlite" or "postgres") for one test."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'store-{uuid.uuid4().hex[:8]}.db'}"
        return
    from tests.infra.postgres import fresh_database

    # Asked for lazily so that memory/SQLite runs never need a PostgreSQL.
    server = request.getfixturevalue("postgres_server_url")
    async with fresh_database(server) as url:
        yield url


@asynccontextmanager
async def a_store(kind: str, request: Any, tmp_path: Any, **engine_options: Any) -> AsyncIterator[Any]:
    if kind == "memory":
        yield InMemoryEventStore()
        return
    from eventkit.sql import open_store

    async with database_url(kind, request, tmp_path) as url:
        store = await open_store(url, **engine_options)
        if kind == "postgres-portable":
            store.server_side_append = False
        try:
            yield store
        finally:
            await store.close()
