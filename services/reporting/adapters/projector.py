"""Applies events to one generation of the read model, in batches, through a caller's connection.

The live consumer calls it with one event, or a fetched batch, inside the kit's transaction (the
kit's inbox row and these rows commit together); the rebuild calls it with thousands of events per transaction and a
cache that lives as long as the rebuild (it is then the only writer of its generation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, delete, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from jumelage_contracts import Envelope
from jumelage_contracts.registry import UnknownEventType, UnsupportedSchemaVersion, upcast

from reporting.domain import Dims, Incoming, handles, needs, project

from .tables import Generation

PARIS = ZoneInfo("Europe/Paris")
_DIM_FIELDS = ("academie", "departement", "dispositif", "school_year", "domains", "ep", "ruralite", "uai",
               "school_name", "partner_name", "label", "parent")


def day_of(moment: datetime) -> date:
    """The calendar day of an instant, in France (where the académies read the figures)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(PARIS).date()


def incoming(envelope: Envelope) -> Incoming | None:
    """The projection's view of an envelope, its payload upcast to the current version; None for
    an event the projection does not read."""
    if not handles(envelope.source, envelope.type):
        return None
    try:
        data = upcast(envelope.type, envelope.schema_version, dict(envelope.data))
    except (UnknownEventType, UnsupportedSchemaVersion):
        return None
    return Incoming(
        event_id=str(envelope.id), type=envelope.type, source=envelope.source, stream_id=envelope.stream_id,
        occurred_at=envelope.occurred_at, day=day_of(envelope.occurred_at), academie=envelope.academie,
        data=data, position=envelope.position, recorded_at=envelope.recorded_at,
    )


def keys_needed(envelopes: Sequence[Envelope]) -> list[str]:
    """The state keys the projection of ``envelopes`` reads."""
    out: list[str] = []
    for env in envelopes:
        ev = incoming(env)
        if ev is not None:
            out += needs(ev)
    return list(dict.fromkeys(out))


def _insert(dialect: str):
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@dataclass
class _Batch:
    facts: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    dims: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


class Projector:
    def __init__(self, gen: Generation, *, keep_cache: bool = False) -> None:
        self.gen = gen
        self.keep_cache = keep_cache
        self._state: dict[str, dict[str, Any]] = {}
        self._loaded: set[str] = set()
        self._seen: set[str] = set()  # with keep_cache: every id this projector applied

    async def apply(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> int:
        """Apply ``envelopes`` (in order) within ``conn``'s transaction; returns how many were new.
        Every envelope counts toward its source's position, even one the projection ignores."""
        return await self.apply_claimed(conn, await self.claim(conn, envelopes))

    async def claim(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """Record the events as applied to this generation; returns those that were not already
        (one round trip per 1 000: the insert itself says which ids are new). A projector that
        keeps its cache is its generation's only writer (the rebuild): it remembers the ids."""
        unique = list({str(e.id): e for e in envelopes}.values())
        if self.keep_cache:
            fresh_envs = [e for e in unique if str(e.id) not in self._seen]
            if fresh_envs:
                await self._bulk_insert(conn, self.gen.applied, [{"event_id": str(e.id)} for e in fresh_envs])
                self._seen.update(str(e.id) for e in fresh_envs)
            return fresh_envs
        fresh: set[str] = set()
        ins = _insert(conn.dialect.name)
        for chunk in _chunks(unique, 1000):
            stmt = (ins(self.gen.applied).values([{"event_id": str(e.id)} for e in chunk])
                    .on_conflict_do_nothing(index_elements=["event_id"]).returning(self.gen.applied.c.event_id))
            fresh.update(r[0] for r in await conn.execute(stmt))
        return [e for e in unique if str(e.id) in fresh]

    async def apply_claimed(self, conn: AsyncConnection, fresh: Sequence[Envelope],
                            preloaded: dict[str, Any] | None = None) -> int:
        """Apply events already claimed for this generation. ``preloaded``: the state rows of
        :func:`keys_needed` already read by the caller (absent keys have no row)."""
        if not self.keep_cache:
            self._state.clear()
            self._loaded.clear()
        events = [(env, incoming(env)) for env in fresh]
        if preloaded is not None:
            self._state.update(preloaded)
            self._loaded.update(keys_needed(fresh))
        await self._load(conn, [k for _, ev in events if ev is not None for k in needs(ev)])
        batch = _Batch()
        for env, ev in events:
            self._track_source(batch, env)
            if ev is not None:
                self._project(batch, ev)
        await self._flush(conn, batch)
        return len(fresh)

    async def _load(self, conn: AsyncConnection, keys: Iterable[str]) -> None:
        missing = [k for k in dict.fromkeys(keys) if k not in self._loaded]
        state = self.gen.state
        for chunk in _chunks(missing, 500):
            rows = await conn.execute(select(state.c.key, state.c.value).where(state.c.key.in_(chunk)))
            for key, value in rows:
                self._state[key] = value
        self._loaded.update(missing)

    def _project(self, batch: _Batch, ev: Incoming) -> None:
        effects = project(ev, self._state)
        for key, value in effects.state.items():
            if value is None:
                self._state.pop(key, None)
            else:
                self._state[key] = value
            self._loaded.add(key)
            batch.dirty.add(key)
        for f in effects.facts:
            batch.facts.append({
                "day": f.day or ev.day, "subject": f.subject, "metric": f.metric, "academie": ev.academie,
                "school_year": f.school_year,
                "year_index": f.year_index, "level": f.level, "kind": f.kind, "month": f.month,
                "class_ref": f.class_ref, "n": f.n, "amount": f.amount,
                "ep": f.ep, "ruralite": f.ruralite, "domains": f.domains,
            })
        for d in effects.dims:
            self._merge_dims(batch, d, ev.day)
        for t in effects.timeline:
            batch.timeline.append({
                "subject": t.subject, "day": ev.day, "occurred_at": ev.occurred_at, "source": ev.source,
                "position": ev.position, "event_id": ev.event_id, "type": t.type, "summary": t.summary[:2000],
                "recorded_at": ev.recorded_at,
            })

    @staticmethod
    def _merge_dims(batch: _Batch, d: Dims, day: date) -> None:
        row = batch.dims.setdefault(d.subject, {"subject": d.subject, "kind": d.kind, "first_day": day,
                                                **{k: None for k in _DIM_FIELDS}})
        for name in _DIM_FIELDS:
            value = getattr(d, name)
            if value is not None:
                row[name] = value
        row["first_day"] = min(row["first_day"], day)

    @staticmethod
    def _track_source(batch: _Batch, env: Envelope) -> None:
        src = batch.sources.setdefault(env.source, {"source": env.source, "last_position": 0,
                                                    "last_occurred_at": None, "events_applied": 0})
        src["last_position"] = max(src["last_position"], env.position or 0)
        src["last_occurred_at"] = env.occurred_at
        src["events_applied"] += 1

    async def _flush(self, conn: AsyncConnection, batch: _Batch) -> None:
        gone = [k for k in batch.dirty if k not in self._state]
        if gone:
            await conn.execute(delete(self.gen.state).where(self.gen.state.c.key.in_(gone)))
        writes = self._writes(conn.dialect.name, batch)
        one_event = sum(s["events_applied"] for s in batch.sources.values()) == 1
        if conn.dialect.name == "postgresql" and not self.keep_cache and len(writes) > 1 and one_event:
            # One live event: every write in ONE round trip, as data-modifying CTEs (compiled per
            # shape; a batch's shapes vary too much to cache, it writes each table once instead).
            sql, args = _combined(self.gen, writes, conn.dialect)
            await conn.exec_driver_sql(sql, args)
            return
        for stmt, rows in writes:
            if self.keep_cache and stmt.table in (self.gen.fact, self.gen.timeline):
                await self._bulk_insert(conn, stmt.table, rows)
            else:
                await conn.execute(stmt, rows)

    @staticmethod
    async def _bulk_insert(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
        """Plain inserts of a rebuild: COPY on PostgreSQL (same transaction), executemany elsewhere."""
        if conn.dialect.name != "postgresql" or not rows:
            await conn.execute(table.insert(), rows)
            return
        columns = list(rows[0])
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(table.name, records=[tuple(r[c] for c in columns) for r in rows],
                                        columns=columns)

    def _writes(self, dialect: str, batch: _Batch) -> list[tuple[Any, list[dict[str, Any]]]]:
        """(insert statement, rows) for everything the batch writes."""
        stmts = _statements(self.gen, dialect)
        out: list[tuple[Any, list[dict[str, Any]]]] = []
        if batch.facts:
            out.append((stmts["fact"], batch.facts))
        if batch.timeline:
            out.append((stmts["timeline"], batch.timeline))
        if batch.dims:
            out.append((stmts["subject"], list(batch.dims.values())))
        rows = [{"key": k, "value": self._state[k]} for k in batch.dirty if k in self._state]
        if rows:
            out.append((stmts["state"], rows))
        if batch.sources:
            out.append((stmts["source"], list(batch.sources.values())))
        return out


# Statements are built once per generation and dialect, and the combined live statement once per
# shape (which tables, how many rows): building and compiling them per event cost more than the
# database work.
_STATEMENTS: dict[tuple[int, str], dict[str, Any]] = {}
_COMBINED: dict[tuple[Any, ...], Any] = {}


def _statements(g: Generation, dialect: str) -> dict[str, Any]:
    key = (g.number, dialect)
    if key in _STATEMENTS:
        return _STATEMENTS[key]
    ins = _insert(dialect)
    subject = ins(g.subject)
    ex = subject.excluded
    updates = {name: func.coalesce(getattr(ex, name), getattr(g.subject.c, name)) for name in _DIM_FIELDS}
    updates["first_day"] = case((g.subject.c.first_day <= ex.first_day, g.subject.c.first_day), else_=ex.first_day)
    state = ins(g.state)
    source = ins(g.source)
    sx = source.excluded
    _STATEMENTS[key] = {
        "fact": ins(g.fact),
        "timeline": ins(g.timeline),
        "subject": subject.on_conflict_do_update(index_elements=[g.subject.c.subject], set_=updates),
        "state": state.on_conflict_do_update(index_elements=[g.state.c.key], set_={"value": state.excluded.value}),
        "source": source.on_conflict_do_update(index_elements=[g.source.c.source], set_={
            "last_position": case((g.source.c.last_position >= sx.last_position, g.source.c.last_position),
                                  else_=sx.last_position),
            "last_occurred_at": sx.last_occurred_at,
            "events_applied": g.source.c.events_applied + sx.events_applied,
        }),
    }
    return _STATEMENTS[key]


def _combined(g: Generation, writes: list[tuple[Any, list[dict[str, Any]]]], dialect: Any) -> tuple[str, tuple]:
    """One statement (data-modifying CTEs) for all ``writes``: its SQL, compiled once per shape
    (SQLAlchemy does not cache DML inside CTEs), and its positional driver arguments."""
    shape = (g.number,) + tuple((stmt.table.name, len(rows), tuple(rows[0])) for stmt, rows in writes)
    compiled = _COMBINED.get(shape)
    if compiled is None:
        ctes = []
        for i, (stmt, rows) in enumerate(writes):
            values = [{col: bindparam(f"w{i}_{r}_{col}", type_=stmt.table.c[col].type) for col in row}
                      for r, row in enumerate(rows)]
            ctes.append(stmt.values(values).returning(literal_column("1")).cte(f"w{i}"))
        statement = select(*[select(func.count()).select_from(c).scalar_subquery() for c in ctes])
        done = statement.compile(dialect=dialect)
        processors = done._bind_processors  # the type conversions (JSON…) execute() would apply
        compiled = (str(done), [(name, processors.get(name)) for name in done.positiontup])
        _COMBINED[shape] = compiled
    sql, order = compiled
    params = {f"w{i}_{r}_{col}": value for i, (_, rows) in enumerate(writes)
              for r, row in enumerate(rows) for col, value in row.items()}
    return sql, tuple(proc(params[name]) if proc else params[name] for name, proc in order)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
