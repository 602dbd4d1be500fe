"""Schema migrations (alembic, driven from code: no ``alembic.ini`` at run time).

``run_migrations(url, locations)`` upgrades each location to its head, in the order given, inside
one transaction. Every location keeps its OWN version table, ``alembic_version_<name>``, so the
kit's tables and each service's tables evolve independently in the same database.

How a service adds migrations for its own tables (read models, timers…):

1. Make a folder of alembic revision files, e.g. ``services/reporting/adapters/migrations/``
   holding ``0001_read_models.py`` with ``revision = "reporting_0001"``, ``down_revision = None``
   and ``upgrade()`` using ``alembic.op`` (copy ``services/eventkit/migrations/versions/`` for the
   shape; prefix revision ids with the service name). No ``env.py`` is needed: the kit's
   ``env.py`` runs it. (A folder that does have an ``env.py`` is used as a full alembic script
   directory; its env must use ``config.attributes["connection"]`` and
   ``config.attributes["version_table"]`` like the kit's.)
2. Pass it to the runtime: ``ServiceRuntime(settings, migrations=[MIGRATIONS_DIR])``, which calls
   ``open_store(url, extra_migrations=[MIGRATIONS_DIR])``: the kit's migrations run first.
3. The version table is named after the folder: the first path component, walking up from the
   folder, that is not a generic word (``migrations``, ``versions``, ``adapters``, ``db``,
   ``alembic``) — ``services/reporting/adapters/migrations`` → ``alembic_version_reporting``.
   Pass ``(name, path)`` instead of a path to choose the name.

Never create tables with ``metadata.create_all`` at start-up: the schema is what the migrations say.

Concurrency: on PostgreSQL the whole upgrade holds a transaction-level advisory lock, so two
processes starting at once upgrade one after the other (the second finds everything at head).
On SQLite the upgrade runs in a ``BEGIN IMMEDIATE`` transaction, which serialises writers.
Both databases run DDL transactionally: a failed upgrade leaves nothing half done.
Inside one process, upgrades also take turns on an asyncio lock: alembic keeps the running
migration in module-level state (``alembic.op``, ``alembic.context``), and two upgrades whose
database waits interleave on one event loop would otherwise run each other's operations.
"""

from __future__ import annotations

import asyncio
import re
import weakref
import zlib
from pathlib import Path
from typing import Any, Sequence, Union

from sqlalchemy import text

KIT_MIGRATIONS = Path(__file__).resolve().parent / "versions"
_SCRIPT_DIR = Path(__file__).resolve().parent
_GENERIC = {"migrations", "versions", "adapters", "db", "alembic", "sql"}
# Any 64-bit constant works; deriving it from a name documents what it guards.
MIGRATION_LOCK_KEY = zlib.crc32(b"jumelage.eventkit.migrations")

Location = Union[Path, str, tuple[str, Union[Path, str]]]

# One lock per event loop (an asyncio.Lock belongs to the loop it first waits on).
_LOCKS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _in_process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


def location_name(path: Path) -> str:
    """The ``<name>`` of ``alembic_version_<name>`` for a migrations folder."""
    for part in [path, *path.parents]:
        if part.name and part.name.lower() not in _GENERIC:
            return re.sub(r"[^a-z0-9_]", "_", part.name.lower())
    raise ValueError(f"cannot name the migrations folder {path}: pass (name, path)")


def _normalise(location: Location) -> tuple[str, Path]:
    if isinstance(location, tuple):
        name, path = location
        return re.sub(r"[^a-z0-9_]", "_", name.lower()), Path(path).resolve()
    path = Path(location).resolve()
    if path == KIT_MIGRATIONS:
        return "eventkit", path
    return location_name(path), path


def _alembic_config(sync_connection: Any, name: str, path: Path):
    from alembic.config import Config

    cfg = Config()
    if (path / "env.py").exists():
        script_location, versions = path, path / "versions"
    else:
        script_location, versions = _SCRIPT_DIR, path
    # configparser interpolation: a literal '%' in a path must be doubled.
    cfg.set_main_option("script_location", str(script_location).replace("%", "%%"))
    cfg.set_main_option("version_locations", str(versions).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = sync_connection
    cfg.attributes["version_table"] = f"alembic_version_{name}"
    return cfg


def _upgrade_all(sync_connection: Any, locations: list[tuple[str, Path]]) -> None:
    from alembic import command

    names = [name for name, _ in locations]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"two migration folders share the version table name(s) {sorted(duplicates)}")
    for name, path in locations:
        if not path.is_dir():
            raise FileNotFoundError(f"migrations folder {path} does not exist")
        command.upgrade(_alembic_config(sync_connection, name, path), "heads")


async def run_migrations(url_or_engine: Any, locations: Sequence[Location]) -> None:
    """Upgrade every location (a folder of revision files, see the module doc) to its heads.

    ``url_or_engine``: a database URL (``postgresql+asyncpg://…``, ``sqlite+aiosqlite:///…``; the
    plain spellings are accepted) or an ``AsyncEngine`` made by :func:`eventkit.sql.make_engine`.
    Running it again is a no-op.
    """
    from ..sql import make_engine

    resolved = [_normalise(loc) for loc in locations]
    own_engine = isinstance(url_or_engine, str)
    engine = make_engine(url_or_engine, migrations=True) if own_engine else url_or_engine
    try:
        async with _in_process_lock(), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await conn.run_sync(_upgrade_all, resolved)
    finally:
        if own_engine:
            await engine.dispose()
