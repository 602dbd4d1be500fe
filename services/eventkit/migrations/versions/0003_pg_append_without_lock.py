"""PostgreSQL: ``eventkit_append`` without the store-wide append lock.

Appenders no longer queue behind one advisory lock, so concurrent commits share WAL flushes.
Instead the function's first statement gives the transaction its xid (``pg_current_xact_id()``)
before the insert draws a position: a reader of the global log that finds a gap in positions
waits until every transaction that had an xid when it saw the gap has ended (see the module doc
of ``eventkit.sql``). The checks and the insert are those of ``eventkit_0002``; a race the checks
cannot see (two appenders of the same event id, or of the same stream version, at once) ends on
the unique constraints ``events_id_key`` / ``events_stream_version_key``, and the store turns the
error into the duplicate result or a ConcurrencyError.

SQLite has no stored functions; there every writer still starts with ``BEGIN IMMEDIATE``.

Revision ID: eventkit_0003
Revises: eventkit_0002
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "eventkit_0003"
down_revision = "eventkit_0002"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION eventkit_append(
    p_stream_id varchar, p_expected integer, p_recorded_at timestamptz,
    p_ids uuid[], p_types varchar[], p_schema_versions integer[], p_sources varchar[],
    p_occurred_at timestamptz[], p_correlation_ids uuid[], p_causation_ids uuid[],
    p_actor_roles varchar[], p_actor_ids varchar[], p_academies varchar[], p_data text[])
RETURNS TABLE (new_position bigint, new_version integer)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    current_version integer;
BEGIN
    -- The xid first, the position after: readers of the global log rely on that order.
    PERFORM pg_current_xact_id();
    IF EXISTS (SELECT 1 FROM events e WHERE e.id = p_ids[1]) THEN
        RETURN;
    END IF;
    SELECT coalesce(max(e.stream_version), 0) INTO current_version
      FROM events e WHERE e.stream_id = p_stream_id;
    IF p_expected IS NOT NULL AND current_version <> p_expected THEN
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO events AS e (id, stream_id, stream_version, type, schema_version, source,
                             occurred_at, recorded_at, correlation_id, causation_id,
                             actor_role, actor_id, academie, data)
    SELECT n.id, p_stream_id, current_version + n.ord::integer, n.type, n.schema_version, n.source,
           n.occurred_at, p_recorded_at, n.correlation_id, n.causation_id,
           n.actor_role, n.actor_id, n.academie, n.data::jsonb
      FROM unnest(p_ids, p_types, p_schema_versions, p_sources, p_occurred_at, p_correlation_ids,
                  p_causation_ids, p_actor_roles, p_actor_ids, p_academies, p_data)
           WITH ORDINALITY AS n(id, type, schema_version, source, occurred_at, correlation_id,
                                causation_id, actor_role, actor_id, academie, data, ord)
     ORDER BY n.ord
    RETURNING e.position, e.stream_version;
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    # Back to the locking function of eventkit_0002 (same signature, so CREATE OR REPLACE).
    if op.get_bind().dialect.name == "postgresql":
        path = Path(__file__).with_name("0002_pg_append_function.py")
        spec = importlib.util.spec_from_file_location("eventkit_0002_function", path)
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        op.execute(previous.FUNCTION)
