"""Applies events to one generation of the read model, in batches, through a caller's connection.

The live consumer calls it with one event, or a fetched batch, inside the kit's transaction (the
kit's inbox row and these rows commit together); the rebuild calls it with thousands of events per transaction and a
cache that lives as long as the rebuild (it is then the only writer of its generation).

An event whose cause is not projected yet (``reporting.domain.order``) is parked in the
generation's ``parked`` table, in the same transaction; the event that projects its cause
releases it in that event's transaction, and whatever it releases in turn, in stream order.
Every caller (live one-event path, live batch path, rebuild) goes through the same code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, delete, func, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from jumelage_contracts import Envelope
from jumelage_contracts.registry import UnknownEventType, UnsupportedSchemaVersion, model_for, upcast

from reporting.domain import Dims, Incoming, handles, needs, project, waits_for
from reporting.domain.order import LEGACY, stream_advanced, stream_blocker, stream_key, waiting_key

from .tables import PYEAR_DAYS, Generation

PARIS = ZoneInfo("Europe/Paris")
_DIM_FIELDS = ("academie", "departement", "dispositif", "school_year", "domains", "ep", "ruralite", "uai",
               "school_name", "partner_name", "label", "parent")


def day_of(moment: datetime) -> date:
    """The calendar day of an instant, in France (where the académies read the figures)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    hour = moment.timestamp() // 3600
    if hour < _WHOLE_HOURS_SINCE:
        return moment.astimezone(PARIS).date()
    day = _DAYS.get(hour)
    if day is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        day = _DAYS[hour] = moment.astimezone(PARIS).date()
    return day


# Paris's offset has been whole hours, changed on whole UTC hours, since 1946: from then on the
# day of an instant is the day of its UTC hour, computed once per hour (the rebuild asks it a
# million times; the zone lookup was a tenth of an event's projection).
_WHOLE_HOURS_SINCE = datetime(1947, 1, 1, tzinfo=timezone.utc).timestamp() // 3600
_DAYS: dict[float, date] = {}


def incoming(envelope: Envelope, event_id: str | None = None) -> Incoming | None:
    """The projection's view of an envelope, its payload upcast to the current version; None for
    an event the projection does not read. ``event_id``: ``str(envelope.id)``, when the caller
    has it already."""
    current = _CURRENT.get((envelope.source, envelope.type, envelope.schema_version))
    if current is None:
        current = _CURRENT[(envelope.source, envelope.type, envelope.schema_version)] = _is_current(envelope)
    if current is False:
        return None
    if current is True:
        data = dict(envelope.data)
    else:
        try:
            data = upcast(envelope.type, envelope.schema_version, dict(envelope.data))
        except (UnknownEventType, UnsupportedSchemaVersion):
            return None
    return Incoming(
        event_id=event_id or str(envelope.id), type=envelope.type, source=envelope.source,
        stream_id=envelope.stream_id, occurred_at=envelope.occurred_at, day=day_of(envelope.occurred_at),
        academie=envelope.academie, data=data, position=envelope.position, recorded_at=envelope.recorded_at,
    )


# (source, type, schema version) → True: read as it is; None: to upcast; False: not read (an
# event the projection ignores, a version it cannot read): asked once per kind, not per event.
_CURRENT: dict[tuple[str, str, int], bool | None] = {}


def _is_current(envelope: Envelope) -> bool | None:
    if not handles(envelope.source, envelope.type):
        return False
    try:
        model = model_for(envelope.type)
    except UnknownEventType:
        return False
    if envelope.schema_version == model.VERSION:
        return True
    if 1 <= envelope.schema_version < model.VERSION:
        return None
    return False


def _keys_of(env: Envelope, ev: Incoming | None) -> list[str]:
    """What projecting ``env`` reads: its lookups, its stream's last version, and the counts of
    events parked on any of them (which it may release)."""
    own = needs(ev) if ev is not None else []
    if env.stream_version > 0:
        own = [stream_key(env.source, env.stream_id), *own]
    return [*own, *(waiting_key(k) for k in own), *([LEGACY] if env.stream_version > 0 else [])]


def keys_needed(envelopes: Sequence[Envelope]) -> list[str]:
    """The state keys the projection of ``envelopes`` reads."""
    out: list[str] = []
    for env in envelopes:
        out += _keys_of(env, incoming(env))
    return list(dict.fromkeys(out))


def _insert(dialect: str):
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@dataclass
class _Held:
    """A parked event: what it waits on, and whether its row is in the table yet."""

    envelope: Envelope
    waits_on: str
    stored: bool = False

    @property
    def order(self) -> tuple[Any, ...]:
        e = self.envelope
        return (e.source, e.position or 0, e.stream_id, e.stream_version)


@dataclass
class _Batch:
    facts: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    rencontres: list[dict[str, Any]] = field(default_factory=list)
    redactions: list[Any] = field(default_factory=list)  # domain.model.Redaction, after the inserts
    dims: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    parked: dict[str, _Held] = field(default_factory=dict)  # new rows, by event id
    moved: dict[str, str] = field(default_factory=dict)  # stored rows now waiting on another key
    released: set[str] = field(default_factory=set)  # stored rows to delete
    tally: dict[tuple[str, str, date], list[int]] = field(default_factory=dict)  # (académie, metric, day) → n, amount
    bulk: bool = False  # project_bulk's: written by snapshot(), not flushed (no dirty keys to track)
    pyear: dict[tuple[str, str, str], dict[str, date]] = field(default_factory=dict)  # (académie, year, subject) → days


class Projector:
    def __init__(self, gen: Generation, *, keep_cache: bool = False) -> None:
        """``keep_cache``: this projector is the only writer of ``gen``, which it found empty (the
        rebuild): its state and parked events live in memory too, and are never read back."""
        self.gen = gen
        self.keep_cache = keep_cache
        self._state: dict[str, dict[str, Any]] = {}
        self._loaded: set[str] = set()
        self._seen: set[str] = set()  # with keep_cache: every id this projector applied
        self._bulk_redactions: list[Any] = []  # project_bulk's erasures, for redact_bulk
        self._held: dict[str, list[_Held]] = {}  # parked events by the key they wait on, as read
        self._held_read: set[str] = set()  # keys whose parked rows were read from the table
        self._held_ids: set[str] = set()  # event ids in _held, or released from it
        self._holding = 0  # events in _held now (with keep_cache: every event parked)
        self.parked = self.released = 0  # events parked and released by this projector, in total
        # project_bulk's subjects and sources, merged across batches, written once by snapshot()
        self._dims: dict[str, dict[str, Any]] = {}
        self._sources: dict[str, dict[str, Any]] = {}
        self._tally: dict[tuple[str, str, date], list[int]] = {}
        self._pyear: dict[tuple[str, str, str], dict[str, date]] = {}

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
            self._held.clear()
            self._held_read.clear()
            self._held_ids.clear()
            self._holding = 0
        events = [(env, incoming(env)) for env in fresh]
        if preloaded is not None:
            self._state.update(preloaded)
            self._loaded.update(keys_needed(fresh))
        await self._load(conn, [k for env, ev in events for k in _keys_of(env, ev)])
        batch = _Batch()
        for env, ev in events:
            self._track_source(batch, env)
            await self._offer(conn, batch, env, ev)
        await self._flush(conn, batch)
        return len(fresh)

    async def project_bulk(self, envelopes: Sequence[Envelope]) -> dict[Any, list[dict[str, Any]]]:
        """The rebuild's bulk load (``keep_cache``, its generation still empty and nobody else's):
        project ``envelopes`` in memory, without a round trip, and return the append-only rows to
        write (applied ids, facts, timeline, answers, rencontres). Subjects, state, sources and
        parked events stay in memory, merged across batches, until :meth:`snapshot` — the rows
        an upsert per batch would rewrite again and again."""
        assert self.keep_cache, "project_bulk needs the rebuild's cache"
        ids = {str(e.id): e for e in envelopes}
        fresh = [(event_id, e) for event_id, e in ids.items() if event_id not in self._seen]
        self._seen.update(event_id for event_id, _ in fresh)
        batch = _Batch(dims=self._dims, sources=self._sources, tally=self._tally, pyear=self._pyear, bulk=True)
        self._track_sources(batch, [env for _, env in fresh])
        for event_id, env in fresh:
            ev = incoming(env, event_id)
            if self._holding or self._blocker(env, ev) is not None:
                await self._offer(None, batch, env, ev)  # type: ignore[arg-type]  # no I/O
            else:  # its turn has come, and nothing is parked that it could release: _offer, shortened
                self._project(batch, env, ev)
        self._bulk_redactions += batch.redactions
        g = self.gen
        return {g.applied: [{"event_id": event_id} for event_id, _ in fresh], g.fact: batch.facts,
                g.timeline: batch.timeline, g.answer: batch.answers, g.rencontre: batch.rencontres}

    def snapshot(self) -> dict[Any, list[dict[str, Any]]]:
        """After :meth:`project_bulk`: the subjects, state, sources and events still parked, as
        rows. From then on the projector writes through :meth:`apply` like any other (the
        parked rows are stored: a release deletes them)."""
        held = [h for waiting in self._held.values() for h in waiting]
        for h in held:
            h.stored = True
        g = self.gen
        return {g.subject: list(self._dims.values()),
                g.state: [{"key": k, "value": v} for k, v in self._state.items()],
                g.source: list(self._sources.values()), g.parked: [_parked_row(h) for h in held],
                g.tally: _tally_rows(self._tally), g.pyear: _pyear_rows(self._pyear)}

    def memory(self) -> dict[str, Any]:
        """What :meth:`project_bulk` keeps in memory (picklable): another process's rebuild of
        one source hands it to the projector that will :meth:`absorb` it."""
        return {"state": self._state, "dims": self._dims, "sources": self._sources, "tally": self._tally,
                "pyear": self._pyear, "held": self._held, "seen": self._seen, "redactions": self._bulk_redactions,
                "parked": self.parked, "released": self.released}

    def absorb(self, memory: dict[str, Any]) -> None:
        """Take in the :meth:`memory` of a projector that rebuilt other sources into the same
        generation, as if this one had projected their events after its own. The sources are
        independent (each one's lookups come from its own events): their state keys cannot
        meet; their subjects can (a partnership is both sources'), merged as one projector
        merges them, in the order the sources are absorbed."""
        assert self.keep_cache, "absorb needs the rebuild's cache"
        shared = self._state.keys() & memory["state"].keys()
        if shared:
            raise ValueError(f"sources rebuilt apart share state keys: {sorted(shared)[:5]}")
        self._state.update(memory["state"])
        for subject, row in memory["dims"].items():
            mine = self._dims.get(subject)
            if mine is None:
                self._dims[subject] = row
                continue
            for name in _DIM_FIELDS:
                if row[name] is not None:
                    mine[name] = row[name]
            mine["first_day"] = min(mine["first_day"], row["first_day"])
        for source, row in memory["sources"].items():
            if source in self._sources:
                raise ValueError(f"source {source} rebuilt twice")
            self._sources[source] = row
        for key, (n, amount) in memory["tally"].items():
            total = self._tally.setdefault(key, [0, 0])
            total[0] += n
            total[1] += amount
        for key, days in memory["pyear"].items():
            # each column is one source's (its earliest day), the UAI goes with active_from
            mine = self._pyear.setdefault(key, {})
            for column, day in days.items():
                if column != "uai" and (column not in mine or day < mine[column]):
                    mine[column] = day
                    if column == "active_from":
                        mine["uai"] = days.get("uai")
        for key, waiting in memory["held"].items():
            self._held.setdefault(key, []).extend(waiting)
            self._held_ids.update(str(h.envelope.id) for h in waiting)
            self._holding += len(waiting)
        self._seen |= memory["seen"]
        self._bulk_redactions += memory["redactions"]
        self.parked += memory["parked"]
        self.released += memory["released"]

    # -- order: park what comes before its cause, release it after -----------------------------

    def _blocker(self, env: Envelope, ev: Incoming | None) -> str | None:
        waits = stream_blocker(env.source, env.stream_id, env.stream_version, self._state)
        if waits is None and ev is not None:
            waits = waits_for(ev, self._state)
        return waits

    async def _offer(self, conn: AsyncConnection, batch: _Batch, env: Envelope, ev: Incoming | None) -> None:
        waits = self._blocker(env, ev)
        if waits is not None:
            await self._load(conn, [waiting_key(waits)])
            self._park(batch, _Held(env, waits))
            self.parked += 1
            return
        await self._release(conn, batch, self._project(batch, env, ev))

    def _park(self, batch: _Batch, held: _Held) -> None:
        event_id = str(held.envelope.id)
        self._held.setdefault(held.waits_on, []).append(held)
        self._held_ids.add(event_id)
        self._holding += 1
        if held.stored:  # its row stays, waiting on another key
            batch.released.discard(event_id)
            batch.moved[event_id] = held.waits_on
        else:
            batch.parked[event_id] = held
        self._count_waiting(batch, held.waits_on, +1)

    def _unpark(self, batch: _Batch, held: _Held) -> None:
        event_id = str(held.envelope.id)
        self._held[held.waits_on].remove(held)
        self._holding -= 1
        self._count_waiting(batch, held.waits_on, -1)
        batch.parked.pop(event_id, None)
        batch.moved.pop(event_id, None)
        if held.stored:
            batch.released.add(event_id)

    def _count_waiting(self, batch: _Batch, key: str, delta: int) -> None:
        marker = waiting_key(key)
        n = int((self._state.get(marker) or {}).get("n") or 0) + delta
        self._set(batch, marker, {"n": n} if n > 0 else None)

    async def _release(self, conn: AsyncConnection, batch: _Batch, changed: list[str]) -> None:
        """Project the events parked on the ``changed`` keys that can now go, in their streams'
        order, and what those release in turn."""
        if self.keep_cache and not self._holding:
            return  # every parked event is in memory: none, nothing to release (the rebuild's usual case)
        queue = list(changed)
        while queue:
            key = queue.pop(0)
            await self._load(conn, [waiting_key(key)])
            if not self._state.get(waiting_key(key)):
                continue
            for held in sorted(await self._held_on(conn, key), key=lambda h: h.order):
                env = held.envelope
                ev = incoming(env)
                await self._load(conn, _keys_of(env, ev))
                waits = self._blocker(env, ev)
                if waits == key:
                    continue
                self._unpark(batch, held)
                if waits is not None:  # its cause came, but now it waits on another one
                    await self._load(conn, [waiting_key(waits)])
                    self._park(batch, _Held(env, waits, stored=held.stored))
                    continue
                self.released += 1
                queue += self._project(batch, env, ev)

    async def _held_on(self, conn: AsyncConnection, key: str) -> list[_Held]:
        if key not in self._held_read and not self.keep_cache:  # (the rebuild's are all in memory)
            parked = self.gen.parked
            rows = await conn.execute(select(parked.c.event_id, parked.c.envelope).where(parked.c.waits_on == key))
            held = self._held.setdefault(key, [])
            for event_id, envelope in rows:
                if event_id not in self._held_ids:  # not already moved or released in memory
                    value = json.loads(envelope) if isinstance(envelope, str) else envelope
                    held.append(_Held(Envelope.model_validate(value), key, stored=True))
                    self._held_ids.add(event_id)
                    self._holding += 1
            self._held_read.add(key)
        return list(self._held.get(key, []))

    def _set(self, batch: _Batch, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self._state.pop(key, None)
        else:
            self._state[key] = value
        if not self.keep_cache:  # (the rebuild's projector reads nothing back)
            self._loaded.add(key)
        if not batch.bulk:
            batch.dirty.add(key)

    async def _load(self, conn: AsyncConnection, keys: Iterable[str]) -> None:
        if self.keep_cache:
            # the rebuild's projector fills a generation it created empty, alone: what it has not
            # written does not exist (asking costs a query per 500 keys on a table without
            # statistics yet, which PostgreSQL may answer by scanning it)
            return
        missing = [k for k in dict.fromkeys(keys) if k not in self._loaded]
        state = self.gen.state
        for chunk in _chunks(missing, 500):
            rows = await conn.execute(select(state.c.key, state.c.value).where(state.c.key.in_(chunk)))
            for key, value in rows:
                self._state[key] = value
        self._loaded.update(missing)

    def _project(self, batch: _Batch, env: Envelope, ev: Incoming | None) -> list[str]:
        """Project one event whose turn has come; returns the state keys it changed (what it may
        release). An event the projection ignores still takes its place in its stream."""
        changed: list[str] = []
        if env.stream_version > 0:
            key = stream_key(env.source, env.stream_id)
            self._set(batch, key, stream_advanced(self._state, env.source, env.stream_id, env.stream_version, key))
            changed.append(key)
        if ev is None:
            return changed
        effects = project(ev, self._state)
        for key, value in effects.state.items():
            self._set(batch, key, value)
            changed.append(key)
        academie, ev_day = ev.academie, ev.day
        tally, facts = batch.tally, batch.facts
        for f in effects.facts:
            # a fact's row is its fields (the table's columns, tests/unit/reporting check they
            # match), dated, with the event's académie: one copy, not fifteen attribute reads
            row = {**vars(f), "academie": academie}
            day = row["day"] = f.day or ev_day
            total = tally.get((academie or "", f.metric, day))
            if total is None:
                total = tally[(academie or "", f.metric, day)] = [0, 0]
            total[0] += f.n
            total[1] += f.amount
            facts.append(row)
            column = pyear_column(f.metric, f.kind, f.n)
            if column is not None and f.school_year is not None:
                days = batch.pyear.setdefault((academie or "", f.school_year, f.subject), {})
                if column not in days or day < days[column]:
                    days[column] = day
                    if column == "active_from":  # the school the year carries, as this event says
                        days["uai"] = next((d.uai for d in effects.dims
                                            if d.subject == f.subject and d.kind == "partnership"), None)
        for a in effects.answers:
            batch.answers.append({**vars(a), "day": ev_day, "academie": academie})
        for m in effects.rencontres:
            batch.rencontres.append({**vars(m), "day": ev_day, "academie": academie})
        batch.redactions += effects.redactions
        for d in effects.dims:
            self._merge_dims(batch, d, ev.day)
        for t in effects.timeline:
            batch.timeline.append({
                "subject": t.subject, "day": ev.day, "occurred_at": ev.occurred_at, "source": ev.source,
                "position": ev.position, "event_id": ev.event_id, "type": t.type, "summary": t.summary[:2000],
                "recorded_at": ev.recorded_at,
            })
        return changed

    @staticmethod
    def _merge_dims(batch: _Batch, d: Dims, day: date) -> None:
        row = batch.dims.setdefault(d.subject, {"subject": d.subject, "kind": d.kind, "first_day": day,
                                                **{k: None for k in _DIM_FIELDS}})
        given = vars(d)
        for name in _DIM_FIELDS:
            value = given[name]
            if value is not None:
                row[name] = value
        if day < row["first_day"]:
            row["first_day"] = day

    @staticmethod
    def _track_sources(batch: _Batch, envelopes: Sequence[Envelope]) -> None:
        """:meth:`_track_source` of each of ``envelopes``, in order: the same figures, counted
        per run of one source rather than per event."""
        start = 0
        while start < len(envelopes):
            source = envelopes[start].source
            end = start + 1
            while end < len(envelopes) and envelopes[end].source == source:
                end += 1
            run = envelopes[start:end]
            src = batch.sources.setdefault(source, {"source": source, "last_position": 0,
                                                    "last_occurred_at": None, "events_applied": 0})
            src["last_position"] = max(src["last_position"], *(e.position or 0 for e in run))
            src["last_occurred_at"] = run[-1].occurred_at
            src["events_applied"] += len(run)
            start = end

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
        parked = self.gen.parked
        if batch.released:
            await conn.execute(delete(parked).where(parked.c.event_id.in_(sorted(batch.released))))
        for event_id, waits_on in batch.moved.items():
            await conn.execute(update(parked).where(parked.c.event_id == event_id).values(waits_on=waits_on))
        for held in batch.parked.values():
            held.stored = True  # kept in memory by the rebuild: later batches delete or move the row
        writes = self._writes(conn.dialect.name, batch)
        one_event = sum(s["events_applied"] for s in batch.sources.values()) == 1
        if conn.dialect.name == "postgresql" and not self.keep_cache and len(writes) > 1 and one_event:
            # One live event: every write in ONE round trip, as data-modifying CTEs (compiled per
            # shape; a batch's shapes vary too much to cache, it writes each table once instead).
            sql, args = _combined(self.gen, writes, conn.dialect)
            await conn.exec_driver_sql(sql, args)
        else:
            for stmt, rows in writes:
                if self.keep_cache and stmt.table in (self.gen.fact, self.gen.timeline):
                    await self._bulk_insert(conn, stmt.table, rows)
                else:
                    await conn.execute(stmt, rows)
        await self._redact(conn, batch.redactions)

    async def _redact(self, conn: AsyncConnection, redactions: Sequence[Any]) -> None:
        timeline = self.gen.timeline
        for r in redactions:  # an erasure: the lines stay, without the person
            await conn.execute(update(timeline).where(timeline.c.event_id == r.event_id, timeline.c.type == r.type)
                               .values(summary=r.summary))

    async def redact_bulk(self, conn: AsyncConnection) -> None:
        """After :meth:`project_bulk`'s rows are loaded: the erasures it met say their lines again
        without the person (those lines may have gone to the loader in an earlier batch)."""
        await self._redact(conn, self._bulk_redactions)
        self._bulk_redactions = []

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
        if batch.answers:
            out.append((stmts["answer"], batch.answers))
        if batch.rencontres:
            out.append((stmts["rencontre"], batch.rencontres))
        if batch.dims:
            out.append((stmts["subject"], list(batch.dims.values())))
        if batch.tally:
            out.append((stmts["tally"], _tally_rows(batch.tally)))
        if batch.pyear:
            out.append((stmts["pyear"], _pyear_rows(batch.pyear)))
        rows = [{"key": k, "value": self._state[k]} for k in batch.dirty if k in self._state]
        if rows:
            out.append((stmts["state"], rows))
        if batch.sources:
            out.append((stmts["source"], list(batch.sources.values())))
        if batch.parked:
            out.append((stmts["parked"], [_parked_row(h) for h in batch.parked.values()]))
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
    tally = ins(g.tally)
    pyear = ins(g.pyear)
    py, px = g.pyear.c, pyear.excluded
    _STATEMENTS[key] = {
        # the earliest day of each column (NULL: not seen yet): commutes, whichever source comes first
        "pyear": pyear.on_conflict_do_update(
            index_elements=[py.academie, py.school_year, py.subject],
            set_={name: case((getattr(px, name).is_(None), getattr(py, name)),
                             (getattr(py, name).is_(None), getattr(px, name)),
                             (getattr(px, name) < getattr(py, name), getattr(px, name)),
                             else_=getattr(py, name)) for name in PYEAR_DAYS}
            | {name: func.coalesce(getattr(px, name), getattr(py, name)) for name in ("uai",)}),
        "fact": ins(g.fact),
        "timeline": ins(g.timeline),
        "answer": ins(g.answer),
        "rencontre": ins(g.rencontre),
        "subject": subject.on_conflict_do_update(index_elements=[g.subject.c.subject], set_=updates),
        "parked": ins(g.parked),
        "tally": tally.on_conflict_do_update(index_elements=[g.tally.c.academie, g.tally.c.metric, g.tally.c.day],
                                             set_={"n": g.tally.c.n + tally.excluded.n,
                                                   "amount": g.tally.c.amount + tally.excluded.amount}),
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


def _tally_rows(tally: dict[tuple[str, str, date], list[int]]) -> list[dict[str, Any]]:
    """In key order: two transactions adding to the same days lock their rows in the same order."""
    return [{"academie": a, "metric": m, "day": d, "n": n, "amount": amount}
            for (a, m, d), (n, amount) in sorted(tally.items())]


def pyear_column(metric: str, kind: str | None, n: int) -> str | None:
    """The ``pyear`` day column a fact sets (its first day), or None. What ``_year_at_the_date``
    tests as "sum of n > 0 by the day" is then "first day <= the day": these facts are all +1 (one
    per year: attribution, closing, end, deadline; one per meeting held or bilan recorded)."""
    if n <= 0:
        return None
    if metric == "programme_years_closed":  # closed other than as renewed: stops counting as active
        return "stop_on" if kind is not None and kind != "renewed" else None
    if metric == "meetings_held":
        return "work_held_on" if kind == "work" else None
    return _PYEAR_METRICS.get(metric)


_PYEAR_METRICS = {"partnerships_active": "active_from", "partnerships_ended": "stop_on",
                  "work_meeting_due": "work_due_from", "bilan_due": "bilan_due_from",
                  "bilans_recorded": "bilan_done_on"}


def _pyear_rows(pyear: dict[tuple[str, str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """In key order, every column present (NULL: no such fact in this write)."""
    return [{"academie": a, "school_year": y, "subject": s, **{name: days.get(name) for name in _PYEAR_COLUMNS}}
            for (a, y, s), days in sorted(pyear.items())]


_PYEAR_COLUMNS = (*PYEAR_DAYS, "uai")


def _parked_row(held: _Held) -> dict[str, Any]:
    e = held.envelope
    return {"event_id": str(e.id), "waits_on": held.waits_on, "source": e.source, "stream_id": e.stream_id,
            "stream_version": e.stream_version, "position": e.position, "type": e.type,
            "occurred_at": e.occurred_at, "envelope": e.model_dump(mode="json")}


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
