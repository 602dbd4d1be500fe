"""Schema migrations: idempotent, per-location version tables, safe when processes start together,
and a service's own tables share the store's transactions."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import inspect, text

from eventkit.migrations import KIT_MIGRATIONS, location_name, run_migrations
from eventkit.sql import make_engine, open_store

from tests.integration.eventkit.store_support import an_event, database_url

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request) -> str:
    return request.param


def a_service_migration(folder) -> None:
    folder.mkdir(parents=True)
    (folder / "0001_campaign_counts.py").write_text(textwrap.dedent('''
        import sqlalchemy as sa
        from alembic import op

        revision = "reporting_0001"
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade():
            op.create_table(
                "campaign_counts",
                sa.Column("academie", sa.String(50), primary_key=True),
                sa.Column("campaigns", sa.Integer(), nullable=False),
            )
    '''))


async def tables_of(url: str) -> tuple[set[str], dict[str, str]]:
    engine = make_engine(url, migrations=True)
    try:
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            versions = {}
            for name in sorted(n for n in names if n.startswith("alembic_version_")):
                versions[name] = await conn.scalar(text(f"SELECT version_num FROM {name}"))
            return names, versions
    finally:
        await engine.dispose()


async def test_migrations_create_the_store_tables_and_running_them_twice_changes_nothing(kind, request, tmp_path):
    async with database_url(kind, request, tmp_path) as url:
        await run_migrations(url, [KIT_MIGRATIONS])
        first = await tables_of(url)
        await run_migrations(url, [KIT_MIGRATIONS])

        assert await tables_of(url) == first
        names, versions = first
        assert {"events", "inbox", "checkpoints", "leases", "consumer_positions", "personal_keys"} <= names
        assert versions == {"alembic_version_eventkit": "eventkit_0007"}


async def test_opening_a_store_twice_on_the_same_database_keeps_its_events(kind, request, tmp_path):
    async with database_url(kind, request, tmp_path) as url:
        store = await open_store(url)
        await store.append("campaign-1", [an_event()])
        await store.close()

        again = await open_store(url)
        try:
            assert len(await again.read_stream("campaign-1")) == 1
        finally:
            await again.close()


async def test_a_service_migration_folder_gets_its_own_version_table(kind, request, tmp_path):
    folder = tmp_path / "reporting" / "adapters" / "migrations"
    a_service_migration(folder)
    async with database_url(kind, request, tmp_path) as url:
        store = await open_store(url, extra_migrations=[folder])
        await store.close()
        store = await open_store(url, extra_migrations=[folder])
        await store.close()

        names, versions = await tables_of(url)
        assert "campaign_counts" in names
        assert versions == {"alembic_version_eventkit": "eventkit_0007",
                            "alembic_version_reporting": "reporting_0001"}


async def test_a_service_writes_its_own_rows_in_the_store_transaction_and_both_roll_back(kind, request, tmp_path):
    folder = tmp_path / "reporting" / "migrations"
    a_service_migration(folder)
    async with database_url(kind, request, tmp_path) as url:
        store = await open_store(url, extra_migrations=[folder])
        try:
            async with store.transaction() as tx:
                await tx.connection.execute(text("INSERT INTO campaign_counts VALUES ('paris', 1)"))
                await tx.append("campaign-1", [an_event()])
            with pytest.raises(RuntimeError):
                async with store.transaction() as tx:
                    await tx.connection.execute(text("INSERT INTO campaign_counts VALUES ('lyon', 1)"))
                    await tx.append("campaign-2", [an_event()])
                    raise RuntimeError("handler failed")

            async with store.engine.connect() as conn:
                rows = (await conn.execute(text("SELECT academie FROM campaign_counts"))).scalars().all()
            assert rows == ["paris"]
            assert [e.stream_id for e in await store.read_all()] == ["campaign-1"]
        finally:
            await store.close()


async def test_upgrades_started_together_in_one_process_take_turns(kind, request, tmp_path):
    """Alembic keeps the running migration in module-level state; without the kit's in-process
    lock, upgrades interleaving on one event loop ran each other's operations (about one round in
    five failed here with KeyError/"table already exists"), so several fresh rounds are played."""
    folder = tmp_path / "reporting" / "migrations"
    a_service_migration(folder)
    for _ in range(8 if kind == "sqlite" else 3):
        async with database_url(kind, request, tmp_path) as url:
            await asyncio.gather(*[run_migrations(url, [KIT_MIGRATIONS, folder]) for _ in range(3)])

            names, versions = await tables_of(url)
            assert {"events", "campaign_counts"} <= names
            assert versions["alembic_version_reporting"] == "reporting_0001"


MIGRATE_IN_A_CHILD = """
import asyncio, sys
from eventkit.migrations import KIT_MIGRATIONS, run_migrations
asyncio.run(run_migrations(sys.argv[1], [KIT_MIGRATIONS, sys.argv[2]]))
"""


async def test_three_processes_migrating_one_new_database_at_once_all_succeed(kind, request, tmp_path):
    # Real processes: the advisory lock (PostgreSQL) or BEGIN IMMEDIATE and the WAL switch's
    # retry (SQLite) make the later ones wait and then find everything at head.
    folder = tmp_path / "reporting" / "migrations"
    a_service_migration(folder)
    async with database_url(kind, request, tmp_path) as url:
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", MIGRATE_IN_A_CHILD, url, str(folder), stderr=asyncio.subprocess.PIPE)
            for _ in range(3)
        ]
        results = [await child.communicate() for child in children]
        assert [child.returncode for child in children] == [0, 0, 0], [err.decode()[-800:] for _, err in results]

        names, versions = await tables_of(url)
        assert {"events", "campaign_counts"} <= names
        assert versions["alembic_version_reporting"] == "reporting_0001"


def test_a_migration_folder_is_named_after_its_service():
    assert location_name(KIT_MIGRATIONS.parent) == "eventkit"
    from pathlib import Path

    assert location_name(Path("/repo/services/reporting/adapters/migrations")) == "reporting"
    assert location_name(Path("/repo/services/notifications/migrations/versions")) == "notifications"


def test_the_append_function_takes_its_xid_before_drawing_a_position_and_no_lock():
    """Rule 1 of eventkit.sql's module doc: readers at a gap wait for every transaction that had
    an xid, so an appender must have one before ``nextval`` runs in its INSERT."""
    import importlib.util
    import re

    path = KIT_MIGRATIONS / "0003_pg_append_without_lock.py"
    spec = importlib.util.spec_from_file_location("eventkit_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = module.FUNCTION.split("BEGIN", 1)[1]
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", body).split(";") if s.strip()]
    assert statements[0] == "PERFORM pg_current_xact_id()"
    assert "INSERT INTO events" in body and "lock" not in body.lower()


async def test_the_portable_postgresql_path_takes_the_xid_once_before_its_first_insert(request, tmp_path):
    async with database_url("postgres", request, tmp_path) as url:
        store = await open_store(url)
        store.server_side_append = False
        try:
            async with store.transaction() as tx:
                sent: list[str] = []

                def record(conn, cursor, statement, *args) -> None:
                    sent.append(statement)

                sa_event.listen(tx.connection.sync_connection, "before_cursor_execute", record)
                await tx.append("campaign-1", [an_event()])
                await tx.append("campaign-2", [an_event()])
                sa_event.remove(tx.connection.sync_connection, "before_cursor_execute", record)
        finally:
            await store.close()

        kinds = ["xid" if "pg_current_xact_id" in s else "insert" if "INSERT INTO events" in s else "other"
                 for s in sent]
        assert kinds == ["xid", "insert", "insert"]
