"""Programmes benchmark: actions scheduled per second over HTTP, and the load time of a 3-year
partnership stream of 500 events, each against a baseline measured in the same run on the same
PostgreSQL database.

    .venv/bin/python -m benchmarks.programmes [--actions 2000] [--concurrency 16] [--repeats 30]

1. HTTP: ``python -m programmes`` runs as a real process (uvicorn, PostgreSQL store, outbox relay
   to the local NATS); ``--concurrency`` clients (one partnership each, so no conflicts) POST
   ``/partnerships/{id}/actions``: each request loads the stream (snapshot cache), decides,
   appends, answers. Also one client alone (latency). Baselines: the kit's ``store.append`` of one
   event per call from as many tasks (no HTTP, no decider), and raw asyncpg single-statement
   INSERTs of the same rows from as many connections (the floor).
2. Load: one partnership played over three years through the deciders (referents, convention,
   meetings, actions scheduled / completed / cancelled, bilans, renewals): 500 events. Timed:
   raw asyncpg ``SELECT`` of its rows (baseline), the kit's ``read_stream``, a full load
   without snapshots (read + parse + fold), parse + fold alone, loads through the in-process
   snapshot cache (warm, and 10 events behind), and loads of a process that just started, from
   the persisted snapshot (``prog_snapshots``: 0 and 10 events behind).

PostgreSQL: ``JUMELAGE_BENCH_DATABASE_URL`` (server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``): a scratch database is made and dropped.
NATS: ``NATS_URL`` (default ``nats://127.0.0.1:4222``), under a scratch subject root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from eventkit.auth import mint_token
from eventkit.sql import open_store
from jumelage_contracts import parse_event, to_envelope
from jumelage_contracts.candidatures import CampaignCalendar, DateWindow, PartnerRef, SchoolRef
from jumelage_contracts.programmes import (
    ProgrammeClass,
    partnership_stream,
)
from jumelage_contracts.subjects import SOURCES, dead_letter_stream, stream_name
from programmes.adapters.directory import MIGRATIONS
from programmes import sample
from programmes.adapters.snapshots import SqlSnapshots, StoredSnapshot
from programmes.app.snapshots import StreamLoader, _Cached, encode, state_schema
from programmes.domain import commands as c
from programmes.domain import decide, fold

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "programmes-benchmark-secret-32-bytes-long!"
UTC = timezone.utc
SCHOOL = SchoolRef(uai="0750655E", name="Ecole Belleville", academie="paris", departement="75")
PARTNER = PartnerRef(partner_id="musee-carnavalet", kind="cultural_structure", name="Musee Carnavalet")
CLASSES = tuple(ProgrammeClass(class_id=f"c{i}", label=f"Classe {i}", level=lv, pupils=25)
                for i, lv in enumerate(("CE2", "CM1", "CM2", "CM2")))


def at(y: int, m: int, d: int, h: int = 9) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def calendar(start: int) -> CampaignCalendar:
    return CampaignCalendar(
        submission_deadline=at(start, 5, 31), attribution_date=date(start, 7, 4),
        work_meeting_window=DateWindow(start=date(start, 9, 15), end=date(start, 10, 17)),
        bilan_window=DateWindow(start=date(start + 1, 5, 11), end=date(start + 1, 6, 19)),
        renewal_deadline=at(start + 1, 6, 26))


def open_year(pid: str, year_index: int, start: int) -> c.OpenYear:
    return c.OpenYear(partnership_id=pid, candidature_id=f"cand-{pid}", dispositif="culture",
                      school_year=f"{start}-{start + 1}", year_index=year_index, school=SCHOOL, classes=CLASSES,
                      calendar=calendar(start), opened_by="attribution" if year_index == 1 else "renewal",
                      now=at(start, 7, 10), partner=PARTNER)


# -- a 3-year partnership of exactly `total` events, played through the deciders ----------------


def three_year_partnership(pid: str, total: int = 500) -> list:
    return sample.three_year_partnership(lambda year_index, start: open_year(pid, year_index, start),
                                         tuple(k.class_id for k in CLASSES), total)


def envelopes_of(pid: str, events: list) -> list:
    correlation = uuid.uuid4()
    return [to_envelope(e, stream_id=partnership_stream(pid), occurred_at=datetime.now(UTC),
                        correlation_id=correlation, academie="paris") for e in events]


# -- infrastructure --------------------------------------------------------------------------------


@asynccontextmanager
async def scratch_database() -> AsyncIterator[tuple[str, str]]:
    """(SQLAlchemy asyncpg URL, plain DSN) of a fresh database, dropped afterwards."""
    server = os.environ.get("JUMELAGE_BENCH_DATABASE_URL", DEFAULT_SERVER)
    parts = urlsplit(server.replace("postgresql+asyncpg://", "postgresql://"))
    database = f"jumelage_bench_programmes_{uuid.uuid4().hex[:8]}"
    admin_dsn = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    try:
        yield (urlunsplit(("postgresql+asyncpg", parts.netloc, "/" + database, "", "")),
               urlunsplit(("postgresql", parts.netloc, "/" + database, "", "")))
    finally:
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def service_process(database_url: str, root: str) -> AsyncIterator[httpx.AsyncClient]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PROGRAMMES_DATABASE_URL": database_url, "NATS_SUBJECT_ROOT": root,
           "PROGRAMMES_PORT": str(port), "JWT_SECRET": SECRET, "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "programmes"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("programmes did not become ready")
                await asyncio.sleep(0.1)
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        await drop_streams(root)


async def drop_streams(root: str) -> None:
    import nats

    nc = await nats.connect(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    js = nc.jetstream()
    for stream in [*(stream_name(s, root) for s in SOURCES), dead_letter_stream(root)]:
        try:
            await js.delete_stream(stream)
        except Exception:  # noqa: BLE001 - absent streams are fine
            pass
    await nc.close()


def action_body(i: int, tag: str) -> dict:
    return {"action_id": f"act-{tag}-{i}", "kind": "workshop", "title": "Atelier d'ecriture", "class_ids": ["c1"],
            "starts_at": (at(2025, 10, 1) + timedelta(hours=i % 5000)).isoformat(), "duration_minutes": 90,
            "place": "Musee Carnavalet, salle pedagogique", "audiences": ["pupils"]}


# -- 1. actions over HTTP ---------------------------------------------------------------------------


async def http_actions(client: httpx.AsyncClient, pids: list[str], total: int, tag: str) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'admin', '*')}"}
    per = total // len(pids)
    latencies: list[float] = []

    async def worker(w: int, pid: str) -> None:
        for k in range(per):
            t = time.perf_counter()
            r = await client.post(f"/partnerships/{pid}/actions", json=action_body(w * per + k, tag), headers=headers)
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 201, r.text

    started = time.perf_counter()
    await asyncio.gather(*(worker(w, pid) for w, pid in enumerate(pids)))
    return time.perf_counter() - started, latencies


async def kit_appends(store: Any, total: int, tasks: int) -> float:
    per = total // tasks
    opened = decide(open_year("kit", 1, 2025), fold([]))
    command = c.ScheduleAction("a", "workshop", "Atelier", ("c1",), at(2025, 10, 1), 90, "Musee", at(2025, 9, 20))
    (scheduled,) = decide(command, fold(opened))

    async def worker(w: int) -> None:
        pid = f"kit-{w}-{uuid.uuid4().hex[:6]}"
        await store.append(partnership_stream(pid), envelopes_of(pid, opened), expected_version=0)
        for k in range(per):
            event = scheduled.model_copy(update={"action_id": f"a{k}"})
            await store.append(partnership_stream(pid), envelopes_of(pid, [event]), expected_version=k + 1)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return time.perf_counter() - started


RAW_INSERT = """INSERT INTO events (id, stream_id, stream_version, type, schema_version, source, occurred_at,
    recorded_at, correlation_id, causation_id, actor_role, actor_id, academie, data)
    VALUES ($1, $2, $3, $4, 1, 'programmes', $5, $5, $6, NULL, 'school', '0750655E', 'paris', $7)"""


async def raw_inserts(dsn: str, total: int, tasks: int, payload: dict) -> float:
    per = total // tasks
    data = json.dumps(payload)

    async def worker(w: int) -> None:
        conn = await asyncpg.connect(dsn)
        stream = f"raw-{w}-{uuid.uuid4().hex[:6]}"
        try:
            for k in range(per):
                now = datetime.now(UTC)
                await conn.execute(RAW_INSERT, uuid.uuid4(), stream, k + 1, "ActionScheduled", now, uuid.uuid4(), data)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return time.perf_counter() - started


# -- 2. stream load --------------------------------------------------------------------------------


async def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


async def load_figures(store: Any, dsn: str, repeats: int) -> dict[str, float]:
    pid = "three-years-500"
    events = three_year_partnership(pid)
    assert len(events) == 500, len(events)
    stream = partnership_stream(pid)
    envelopes = envelopes_of(pid, events)
    await store.append(stream, envelopes[:-10], expected_version=0)
    conn = await asyncpg.connect(dsn)
    figures: dict[str, float] = {}
    try:
        select = "SELECT * FROM events WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version"
        figures["raw asyncpg SELECT (490 rows)"] = await median_ms(lambda: conn.fetch(select, stream, 1), repeats)
        figures["kit read_stream (490)"] = await median_ms(lambda: store.read_stream(stream), repeats)
        stored = await store.read_stream(stream)

        async def parse_fold() -> None:
            fold(parse_event(e) for e in stored)

        figures["parse + fold only (490)"] = await median_ms(parse_fold, repeats)
        cold = StreamLoader(snapshots=False)
        figures["load without snapshot (490)"] = await median_ms(lambda: cold.load(store, stream), repeats)
        warm = StreamLoader(snapshots=True)
        await warm.load(store, stream)
        figures["load, warm snapshot (0 new)"] = await median_ms(lambda: warm.load(store, stream), repeats)
        figures["raw asyncpg SELECT (0 new rows)"] = await median_ms(lambda: conn.fetch(select, stream, 491), repeats)
        await store.append(stream, envelopes[-10:], expected_version=490)
        state_490 = fold(parse_event(e) for e in stored)
        behind = []
        for _ in range(repeats):
            loader = StreamLoader(snapshots=True)
            loader._remember(stream, _Cached(490, state_490, 490))
            t = time.perf_counter()
            loaded = await loader.load(store, stream)
            behind.append(time.perf_counter() - t)
        assert loaded.version == 500
        figures["load, snapshot 10 behind (10 new)"] = statistics.median(behind) * 1000

        # A process that just started: nothing in its cache, the persisted snapshot in prog_snapshots.
        persisted = SqlSnapshots(store)
        await persisted.put(StoredSnapshot(stream, 490, state_schema(), encode(state_490)))
        figures["fresh process, persisted 10 behind"] = await median_ms(
            lambda: StreamLoader(persist_every=10**9).load(store, stream, persisted), repeats)
        await StreamLoader(persist_every=1).load(store, stream, persisted)
        assert (await persisted.get(stream)).version == 500
        figures["fresh process, persisted (0 new)"] = await median_ms(
            lambda: StreamLoader(persist_every=10**9).load(store, stream, persisted), repeats)
        figures["raw asyncpg SELECT (500 rows)"] = await median_ms(lambda: conn.fetch(select, stream, 1), repeats)
        figures["load without snapshot (500)"] = await median_ms(lambda: cold.load(store, stream), repeats)
    finally:
        await conn.close()
    return figures


# -- main ------------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> None:
    async with scratch_database() as (url, dsn):
        store = await open_store(url, extra_migrations=[MIGRATIONS])
        try:
            print(f"== stream load: one partnership, 3 school years, 500 events (median of {args.repeats}) ==")
            figures = await load_figures(store, dsn, args.repeats)
            for name, ms in figures.items():
                print(f"  {name:<38} {ms:8.2f} ms")
            print(f"  ratio load-without-snapshot / raw SELECT (500): "
                  f"{figures['load without snapshot (500)'] / figures['raw asyncpg SELECT (500 rows)']:.1f}x")
            print(f"  ratio warm-snapshot load / raw SELECT (500):    "
                  f"{figures['load, warm snapshot (0 new)'] / figures['raw asyncpg SELECT (500 rows)']:.2f}x")
            print(f"  ratio fresh-process persisted-snapshot load / raw SELECT (500): "
                  f"{figures['fresh process, persisted (0 new)'] / figures['raw asyncpg SELECT (500 rows)']:.2f}x")
            print(f"  ratio load-without-snapshot / fresh-process persisted-snapshot load: "
                  f"{figures['load without snapshot (500)'] / figures['fresh process, persisted (0 new)']:.1f}x")

            pids = [f"bench-{i}" for i in range(args.concurrency)]
            for pid in pids + ["bench-solo"]:
                await store.append(partnership_stream(pid), envelopes_of(pid, decide(open_year(pid, 1, 2025), fold([]))),
                                   expected_version=0)
            root = "bench" + uuid.uuid4().hex[:8]
            async with service_process(url, root) as client:
                await http_actions(client, ["bench-solo"], 50, "warm")  # warm-up (imports, pools, snapshot cache)
                solo_s, solo_lat = await http_actions(client, ["bench-solo"], args.actions // 4, "solo")
                conc_s, conc_lat = await http_actions(client, pids, args.actions, "conc")
            payload = three_year_partnership("p")[10].model_dump(mode="json")
            kit_s = await kit_appends(store, args.actions, args.concurrency)
            raw_s = await raw_inserts(dsn, args.actions, args.concurrency, payload)
        finally:
            await store.close()

    n = args.actions
    http_rate, solo_rate = n / conc_s, (n // 4) / solo_s
    kit_rate, raw_rate = n / kit_s, n / raw_s
    q = statistics.quantiles
    print(f"\n== actions scheduled: {n} over HTTP (python -m programmes, PostgreSQL, relay to NATS) ==")
    print(f"  HTTP, {args.concurrency} clients    {http_rate:8.0f} actions/s   p50 {statistics.median(conc_lat)*1000:6.1f} ms"
          f"   p99 {q(conc_lat, n=100)[98]*1000:6.1f} ms")
    print(f"  HTTP, 1 client       {solo_rate:8.0f} actions/s   p50 {statistics.median(solo_lat)*1000:6.1f} ms"
          f"   p99 {q(solo_lat, n=100)[98]*1000:6.1f} ms")
    print(f"  kit store.append, {args.concurrency} tasks (no HTTP, 1 event/txn) {kit_rate:8.0f} events/s")
    print(f"  raw asyncpg INSERT, {args.concurrency} connections (baseline)     {raw_rate:8.0f} events/s")
    print(f"  ratios: HTTP/raw {http_rate / raw_rate:.2f}   HTTP/kit append {http_rate / kit_rate:.2f}   "
          f"kit/raw {kit_rate / raw_rate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=30)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
