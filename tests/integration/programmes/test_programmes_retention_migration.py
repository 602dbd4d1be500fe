"""Migration programmes_0004 copies the designations stored before it into ``prog_referents``, so
the retention rule knows every partnership a referent already served (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from eventkit.migrations import KIT_MIGRATIONS, run_migrations
from eventkit.shredding import Keyring, SealingStore
from eventkit.sql import open_store
from jumelage_contracts import to_envelope
from jumelage_contracts.programmes import ReferentDesignated
from programmes.adapters.directory import MIGRATIONS, referents

UTC = timezone.utc


def designated(pid: str, person: str) -> ReferentDesignated:
    return ReferentDesignated(partnership_id=pid, school_year="2025-2026", year_index=1, referent_id=person,
                              side="school", role="teacher", name="Claire Martin", email="claire@ac-paris.fr")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, sqlite_url, postgres_url):
    return sqlite_url if request.param == "sqlite" else postgres_url


async def test_designations_stored_before_0004_are_listed_per_referent(url, tmp_path) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("000[123]_*.py")):
        shutil.copy(path, before / path.name)
    store = SealingStore(await open_store(url, extra_migrations=[("programmes", before)]), Keyring("programmes"))
    try:
        for pid, person in (("p1", "ref-a"), ("p2", "ref-a"), ("p1", "ref-b"), ("p1", "ref-a")):
            event = to_envelope(designated(pid, person), stream_id=f"partnership-{pid}",
                                occurred_at=datetime(2025, 9, 10, tzinfo=UTC), correlation_id=uuid.uuid4(),
                                academie="paris")
            await store.append(event.stream_id, [event])
        await run_migrations(url, [KIT_MIGRATIONS, ("programmes", MIGRATIONS)])
        async with store.engine.connect() as conn:
            rows = set((await conn.execute(select(referents.c.referent_id, referents.c.partnership_id))).all())
        assert rows == {("ref-a", "p1"), ("ref-a", "p2"), ("ref-b", "p1")}
    finally:
        await store.close()
