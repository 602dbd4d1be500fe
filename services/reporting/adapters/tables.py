"""Read-model tables, by generation.

Every read-model table exists once per *generation* (``rpt_g<N>_fact``…). The live consumers write
into the current generation; a rebuild fills generation N+1 from the event log while queries keep
reading generation N, then flips ``rpt_meta.generation`` in one transaction and drops N. Tables of
generation 1 come from the migration; later generations are made by the rebuild from the same
definitions (``create_generation``), which is why they are built from code rather than spelt out
in the migration.

- ``fact``: the append-only ledger of dated deltas (see ``reporting.domain.model``);
- ``subject``: dimensions of each campaign, candidature, partnership, offer and reminder;
- ``state``: the projection's lookups (a candidature's classes, an action's month…);
- ``timeline``: what happened to each subject, dated;
- ``applied``: ids of the events applied to this generation (a rebuild and the live consumer may
  both offer the same event: the second is skipped);
- ``source``: per source, the last position applied (the lag endpoint reads it);
- ``parked``: events held until their cause is projected (``reporting.domain.order``), whole,
  with the state key each waits on. Normally empty; ``python -m reporting parked`` lists it;
- ``answer``: one row per side, question and partnership-year of the end-of-year questionnaire
  (``reporting.domain.questionnaire``), dated, never updated;
- ``rencontre``: one row per rencontre held (centres sociaux) or meeting that recorded
  productions, with its productions (title, kind, link), dated, never updated;
- ``tally``: the facts' ``n`` and ``amount`` summed per académie ('' for none), metric and day,
  written in the facts' transaction: an académie's sums as of any day without reading its facts.
- ``pyear``: per académie, school year and partnership, the first day of the facts that make the
  year active, stopped, due or met (``PYEAR_DAYS``), written in the facts' transaction: what is
  active or overdue on any day without grouping the facts per partnership-year.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.schema import CreateTable

ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite auto-assigns only INTEGER PRIMARY KEY

meta_md = MetaData()
rpt_meta = Table(
    "rpt_meta", meta_md,
    Column("key", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
)


@dataclass(frozen=True)
class Generation:
    number: int
    metadata: MetaData
    fact: Table
    subject: Table
    state: Table
    timeline: Table
    applied: Table
    source: Table
    parked: Table
    answer: Table
    rencontre: Table
    tally: Table
    pyear: Table


# pyear's day columns: metric (and kind) of the facts each one takes the first day of — candidatures
# write active_from and the two due days (attribution), programmes the stop, the work meeting held
# and the bilan recorded (see reporting.adapters.projector.pyear_column)
PYEAR_DAYS = ("active_from", "stop_on", "work_due_from", "work_held_on", "bilan_due_from", "bilan_done_on")

_cache: dict[int, Generation] = {}


def generation(number: int) -> Generation:
    """The table objects of generation ``number`` (they may not exist in the database yet)."""
    if number in _cache:
        return _cache[number]
    md = MetaData()
    p = f"rpt_g{number}_"
    fact = Table(
        p + "fact", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("day", Date, nullable=False),
        Column("subject", String(220), nullable=False),
        Column("metric", String(40), nullable=False),
        Column("academie", String(30)),  # the envelope's: lets an académie's figures skip the join
        Column("school_year", String(9)),
        Column("year_index", SmallInteger),
        Column("level", String(10)),
        Column("kind", String(40)),
        Column("month", String(7)),
        Column("class_ref", String(100)),
        Column("n", Integer, nullable=False),
        Column("amount", BigInteger, nullable=False),
        # the classification as it stood (NULL: the subject's), see reporting.domain.model.Fact
        Column("ep", String(5)),
        Column("ruralite", String(40)),
        Column("domains", Integer),
    )
    Index(p + "fact_subject", fact.c.subject, fact.c.metric)
    Index(p + "fact_metric_day", fact.c.metric, fact.c.day)
    # covering on PostgreSQL: an académie's sums are read from the index alone
    Index(p + "fact_academie", fact.c.academie, fact.c.metric, fact.c.day,
          postgresql_include=["n", "amount", "subject", "school_year", "kind"])
    # a few metrics of an académie's current school year (and later) alone: what "active at the
    # date", schools reached and overdue read (queries._year_at_the_date)
    Index(p + "fact_academie_year", fact.c.academie, fact.c.metric, fact.c.school_year, fact.c.day,
          postgresql_include=["n", "amount", "subject", "kind"])
    # per-day sums of the facts by académie ('' for none) and metric, kept with them by the
    # projection: an académie's indicators as of any day read a few thousand rows, not its facts
    tally = Table(
        p + "tally", md,
        Column("academie", String(30), nullable=False),
        Column("metric", String(40), nullable=False),
        Column("day", Date, nullable=False),
        Column("n", BigInteger, nullable=False),
        Column("amount", BigInteger, nullable=False),
        PrimaryKeyConstraint("academie", "metric", "day", name=p + "tally_pkey", postgresql_include=["n", "amount"]),
    )
    # one row per académie ('' for none), school year and partnership: the first day of each fact
    # that decides whether the year is active or overdue (queries._year_at_the_date). Each column is
    # written by one source only, as the earliest day seen (an upsert that commutes): no lookup
    # crosses sources, whatever order they arrive in; the query reads both columns of the row.
    pyear = Table(
        p + "pyear", md,
        Column("academie", String(30), nullable=False),
        Column("school_year", String(9), nullable=False),
        Column("subject", String(220), nullable=False),
        *[Column(name, Date) for name in PYEAR_DAYS],
        # with active_from, from the same event (the attribution or renewal): the school carrying
        # the year (NULL: an ACM organiser without one)
        Column("uai", String(8)),
        PrimaryKeyConstraint("academie", "school_year", "subject", name=p + "pyear_pkey",
                             postgresql_include=[*PYEAR_DAYS, "uai"]),
    )
    subject = Table(
        p + "subject", md,
        Column("subject", String(220), primary_key=True),
        Column("kind", String(20), nullable=False),
        Column("academie", String(30)),
        Column("departement", String(3)),
        Column("dispositif", String(20)),
        Column("school_year", String(9)),
        Column("domains", Integer),  # EAC domains, bitmask (reporting.domain.model.domain_mask)
        Column("ep", String(5)),
        Column("ruralite", String(40)),
        Column("uai", String(8)),
        Column("school_name", String(300)),
        Column("partner_name", String(300)),
        Column("label", String(300)),
        Column("parent", String(220)),  # a partnership's candidature
        Column("first_day", Date),
    )
    Index(p + "subject_academie", subject.c.academie, subject.c.kind)
    Index(p + "subject_uai_of", subject.c.subject, postgresql_include=["uai"])  # schools reached, index only
    Index(p + "subject_uai", subject.c.uai)
    # a CNR project's associated schools by partnership (schools reached: a probe per active year)
    Index(p + "subject_schools_of", subject.c.parent, postgresql_include=["uai"],
          postgresql_where=subject.c.kind == "project_school", sqlite_where=subject.c.kind == "project_school")
    state = Table(
        p + "state", md,
        Column("key", String(250), primary_key=True),
        Column("value", JSON, nullable=False),
    )
    timeline = Table(
        p + "timeline", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("subject", String(220), nullable=False),
        Column("day", Date, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("source", String(20), nullable=False),
        Column("position", BigInteger),
        Column("event_id", String(36), nullable=False),
        Column("type", String(60), nullable=False),
        Column("summary", Text, nullable=False),
        # the producing store's time: an event another service derived from this one takes its
        # occurred_at, but is always recorded later — the timeline's order between equal instants
        Column("recorded_at", DateTime(timezone=True)),
    )
    Index(p + "timeline_subject", timeline.c.subject, timeline.c.day)
    applied = Table(
        p + "applied", md,
        Column("event_id", String(36), primary_key=True),
    )
    source = Table(
        p + "source", md,
        Column("source", String(20), primary_key=True),
        Column("last_position", BigInteger, nullable=False),
        Column("last_occurred_at", DateTime(timezone=True)),
        Column("events_applied", BigInteger, nullable=False),
    )
    parked = Table(
        p + "parked", md,
        Column("event_id", String(36), primary_key=True),  # claimed once per generation: parked once
        Column("waits_on", String(250), nullable=False),
        Column("source", String(20), nullable=False),
        Column("stream_id", String(200), nullable=False),
        Column("stream_version", Integer, nullable=False),
        Column("position", BigInteger),
        Column("type", String(100), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("envelope", JSON, nullable=False),
    )
    Index(p + "parked_waits_on", parked.c.waits_on)
    answer = Table(
        p + "answer", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("day", Date, nullable=False),
        Column("subject", String(220), nullable=False),
        Column("academie", String(30)),
        Column("school_year", String(9), nullable=False),
        Column("ep", String(5)),
        Column("ruralite", String(40)),
        Column("side", String(10), nullable=False),
        Column("question", String(500), nullable=False),
        Column("answer", String(100)),  # NULL: a free text (reporting.domain.questionnaire)
    )
    Index(p + "answer_academie", answer.c.academie, answer.c.day)
    rencontre = Table(
        p + "rencontre", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("day", Date, nullable=False),
        Column("subject", String(220), nullable=False),
        Column("academie", String(30)),
        Column("school_year", String(9), nullable=False),
        Column("year_index", SmallInteger),
        Column("ep", String(5)),
        Column("ruralite", String(40)),
        Column("meeting_id", String(200), nullable=False),
        Column("kind", String(20), nullable=False),
        Column("number", SmallInteger),
        Column("held_on", Date, nullable=False),
        Column("title", String(300)),
        Column("productions", JSON, nullable=False),
    )
    Index(p + "rencontre_academie", rencontre.c.academie, rencontre.c.day)
    gen = Generation(number, md, fact, subject, state, timeline, applied, source, parked, answer, rencontre,
                     tally, pyear)
    _cache[number] = gen
    return gen


def create_generation_sync(sync_connection, number: int, *, indexes: bool = True) -> Generation:
    """Create generation ``number``'s tables; with ``indexes=False`` only their primary keys (a
    rebuild loads them first and indexes them after: one sort per index instead of a btree
    insertion per row — :func:`create_indexes_sync`)."""
    gen = generation(number)
    if indexes:
        gen.metadata.create_all(sync_connection)
        return gen
    for table in gen.metadata.sorted_tables:
        sync_connection.execute(CreateTable(table, if_not_exists=True))
    return gen


def current_generation_sync(sync_connection) -> Generation:
    """The generation ``rpt_meta`` names (migrations)."""
    value = sync_connection.execute(select(rpt_meta.c.value).where(rpt_meta.c.key == "generation")).scalar_one()
    return generation(int(value))


def create_missing_sync(sync_connection, tables: tuple[Table, ...]) -> None:
    """``tables`` and their indexes, those not there yet (a migration adding them to a generation)."""
    for table in tables:
        table.create(sync_connection, checkfirst=True)
        for index in table.indexes:
            index.create(sync_connection, checkfirst=True)


def create_indexes_sync(sync_connection, number: int) -> None:
    """The secondary indexes of generation ``number`` (after :func:`create_generation_sync`
    without them)."""
    for table in generation(number).metadata.sorted_tables:
        for index in table.indexes:
            index.create(sync_connection, checkfirst=True)


def drop_generation_sync(sync_connection, number: int, keep: tuple[str, ...] = ()) -> None:
    gen = generation(number)
    kept = {getattr(gen, name).name for name in keep}
    gen.metadata.drop_all(sync_connection, tables=[t for t in gen.metadata.sorted_tables if t.name not in kept])
