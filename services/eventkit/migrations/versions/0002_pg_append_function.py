"""PostgreSQL: ``eventkit_append``, the append hot path as one server-side call.

Called with the events as arrays, it takes the store's append lock, checks the duplicate and the
expected version with fresh snapshots (a VOLATILE PL/pgSQL function snapshots per statement in
READ COMMITTED, so it sees everything committed before it got the lock) and inserts. Outside an
explicit transaction the whole append — lock, checks, insert, commit — is one round trip and the
lock is held only for the server-side work, never across a client round trip. It returns no
row when it did not insert (duplicate or version mismatch: the caller finds out which).

SQLite has no stored functions; there the store sends the portable statement instead.

Revision ID: eventkit_0002
Revises: eventkit_0001
"""

from alembic import op

revision = "eventkit_0002"
down_revision = "eventkit_0001"
branch_labels = None
depends_on = None

# zlib.crc32(b"jumelage.eventkit.append"). Migration eventkit_0003 replaces this function with
# one that takes no lock (readers hold back at gaps instead, see eventkit.sql).
APPEND_LOCK_KEY = 2049367466

FUNCTION = f"""
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
    PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS eventkit_append(varchar, integer, timestamptz, uuid[], varchar[], "
                   "integer[], varchar[], timestamptz[], uuid[], uuid[], varchar[], varchar[], varchar[], text[])")
