"""PostgreSQL: ``eventkit_commit``, a command's read rows and its events in one server-side call.

A command that keeps read rows (a candidature's row, an offer's reserved places, a partnership
in programmes' directory) used to commit in four round trips or more: BEGIN, the row statements,
one append per stream, COMMIT. ``eventkit_commit`` takes the row statements beside the appends'
arguments (one or more streams, each with its expected version) and runs, in the one implicit
transaction of the call (autocommit): every row statement in order, then ``eventkit_append`` for
each stream. When an append inserts nothing (its events are already stored, or its stream is not
at the expected version) it raises SQLSTATE ``EK001``, DETAIL the stream's rank, so every write
rolls back with it; the client then asks why, as after an empty ``eventkit_append``.

Row statements are SQL text with ``%n$L`` placeholders (``format``'s positional literal) and
their arguments as a JSON array of arrays of text or null, one array per statement: the server
quotes every value (``quote_literal``), nothing is spliced on the client. The text comes from the
services' own SQLAlchemy statements compiled by ``eventkit.pgfast.RowRecorder``, never from a
request. ``SECURITY INVOKER`` (the default): the call can do nothing its caller could not.

Revision ID: eventkit_0007
Revises: eventkit_0006
"""

from alembic import op

revision = "eventkit_0007"
down_revision = "eventkit_0006"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION eventkit_commit(
    p_stream_ids varchar[], p_expected integer[], p_counts integer[], p_recorded_at timestamptz,
    p_ids uuid[], p_types varchar[], p_schema_versions integer[], p_sources varchar[],
    p_occurred_at timestamptz[], p_correlation_ids uuid[], p_causation_ids uuid[],
    p_actor_roles varchar[], p_actor_ids varchar[], p_academies varchar[], p_data text[],
    p_statements text[], p_arguments jsonb)
RETURNS TABLE (stream_index integer, new_position bigint, new_version integer)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    i integer;
    k integer;
    first_event integer := 1;
    last_event integer;
    appended integer;
BEGIN
    -- The xid first, the positions after (readers of the global log rely on that order).
    PERFORM pg_current_xact_id();
    FOR i IN 1 .. coalesce(array_length(p_statements, 1), 0) LOOP
        EXECUTE format(p_statements[i], VARIADIC ARRAY(
            SELECT a.value FROM jsonb_array_elements_text(p_arguments -> (i - 1)) WITH ORDINALITY AS a(value, n)
             ORDER BY a.n));
    END LOOP;
    -- The events of stream k are p_counts[k] consecutive entries of the event arrays.
    FOR k IN 1 .. array_length(p_stream_ids, 1) LOOP
        last_event := first_event + p_counts[k] - 1;
        appended := 0;
        FOR new_position, new_version IN
            SELECT a.new_position, a.new_version FROM eventkit_append(
                p_stream_ids[k], p_expected[k], p_recorded_at, p_ids[first_event:last_event],
                p_types[first_event:last_event], p_schema_versions[first_event:last_event],
                p_sources[first_event:last_event], p_occurred_at[first_event:last_event],
                p_correlation_ids[first_event:last_event], p_causation_ids[first_event:last_event],
                p_actor_roles[first_event:last_event], p_actor_ids[first_event:last_event],
                p_academies[first_event:last_event], p_data[first_event:last_event]) AS a
        LOOP
            stream_index := k;
            appended := appended + 1;
            RETURN NEXT;
        END LOOP;
        IF appended = 0 THEN
            RAISE EXCEPTION 'eventkit_commit: nothing appended to %', p_stream_ids[k]
                USING ERRCODE = 'EK001', DETAIL = k::text;
        END IF;
        first_event := last_event + 1;
    END LOOP;
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS eventkit_commit(varchar[], integer[], integer[], timestamptz, uuid[], "
                   "varchar[], integer[], varchar[], timestamptz[], uuid[], uuid[], varchar[], varchar[], varchar[], "
                   "text[], text[], jsonb)")
