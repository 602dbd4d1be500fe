"""Candidature submissions per second over HTTP, against raw asyncpg single-event transactions,
same PostgreSQL server, same run.

    .venv/bin/python -m benchmarks.candidatures_http [--submissions 2000] [--concurrency 32]

* ``http submit``: ``python -m candidatures`` runs as its own process (uvicorn, one worker) on a
  scratch PostgreSQL database, relay on towards NATS (``NATS_URL``, default local). The client
  sends ``POST /campaigns/<id>/candidatures`` (a new candidature each, two classes, a wished
  offer) with ``--concurrency`` requests in flight. Each submission reads its context (campaign
  and wished offer rows, one statement; the new candidature's stream is not read: the append at
  version 0 proves it empty), decides, and commits the event and its read-table row in one
  server-side statement (``eventkit_commit``): two round trips per submission.
* ``raw asyncpg``: ``--concurrency`` connections each running ``BEGIN; INSERT one event row;
  COMMIT`` into a bare table shaped like the kit's events table — the floor an event-sourced
  write cannot beat. Also run on one connection.

The ratio ``http / raw`` says what the whole service path (HTTP, JSON, auth, validation, reads,
decider, append lock, read table) costs over the bare database write. Client and server share the
machine's cores, so the HTTP figure also pays for the client.

PostgreSQL: ``JUMELAGE_BENCH_DATABASE_URL`` (server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``); scratch databases are made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from eventkit.auth import mint_token
from benchmarks.programmes import drop_streams

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "candidatures-benchmark-secret-32-bytes-long"
UTC = timezone.utc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scratch:
    """A scratch database on the benchmark server, dropped afterwards."""

    def __init__(self, server: str, name: str) -> None:
        parts = urlsplit(server)
        self.netloc = parts.netloc
        self.database = f"jumelage_bench_{name}_{uuid.uuid4().hex[:8]}"
        self.admin_dsn = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))

    @property
    def dsn(self) -> str:
        return urlunsplit(("postgresql", self.netloc, "/" + self.database, "", ""))

    async def __aenter__(self) -> "Scratch":
        admin = await asyncpg.connect(self.admin_dsn)
        await admin.execute(f'CREATE DATABASE "{self.database}"')
        await admin.close()
        return self

    async def __aexit__(self, *exc) -> None:
        admin = await asyncpg.connect(self.admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        await admin.close()


# -- raw asyncpg --------------------------------------------------------------------------------

RAW_TABLE = """
CREATE TABLE events (
  position bigserial PRIMARY KEY, id uuid NOT NULL UNIQUE, stream_id text NOT NULL,
  stream_version int NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL, data jsonb NOT NULL,
  UNIQUE (stream_id, stream_version))
"""
RAW_INSERT = ("INSERT INTO events (id, stream_id, stream_version, type, occurred_at, data) "
              "VALUES ($1, $2, 1, 'CandidatureSubmitted', $3, $4)")


async def raw_asyncpg(dsn: str, count: int, concurrency: int, payload: str) -> float:
    conns = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    await conns[0].execute("DROP TABLE IF EXISTS events; " + RAW_TABLE)
    todo = iter(range(count))

    async def worker(conn) -> None:
        for _ in todo:
            async with conn.transaction():
                await conn.execute(RAW_INSERT, uuid.uuid4(), f"candidature-{uuid.uuid4().hex}",
                                   datetime.now(UTC), payload)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    return count / elapsed


# -- the service over HTTP ----------------------------------------------------------------------


def auth(role: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, role, scope)}"}


def calendar(year: int) -> dict:
    return {"submission_deadline": f"{year}-05-31T21:59:00+00:00", "attribution_date": f"{year}-07-04",
            "work_meeting_window": {"start": f"{year}-09-15", "end": f"{year}-10-16"},
            "bilan_window": {"start": f"{year + 1}-05-10", "end": f"{year + 1}-06-18"},
            "renewal_deadline": f"{year + 1}-06-25T21:59:00+00:00"}


def submission(i: int) -> dict:
    return {
        "candidature_id": f"bench-{i}", "offer_id": "offer-1", "tier": "approfondir",
        "school": {"uai": "0750655E", "name": "Ecole elementaire Belleville", "academie": "paris",
                   "departement": "75", "education_prioritaire": "REP+"},
        "classes": [{"class_id": f"c{k}", "label": f"CM{k + 1}", "level": f"CM{k + 1}", "pupils": 24,
                     "objective": "Decouvrir les collections du musee"} for k in range(2)],
        "school_objective": "Ouvrir l'ecole sur le patrimoine du quartier",
        "wishes": {"periscolaire": True, "staff": True, "families": False},
    }


async def start_service(database_url: str, port: int, root: str, pool: tuple[int, int] | None = None) -> subprocess.Popen:
    env = {**os.environ, "CANDIDATURES_DATABASE_URL": database_url, "CANDIDATURES_PORT": str(port),
           "JWT_SECRET": SECRET, "CLOCK": "manual", "LOG_LEVEL": "WARNING", "NATS_SUBJECT_ROOT": root}
    if pool is not None:
        env["CANDIDATURES_DATABASE_POOL_SIZE"], env["CANDIDATURES_DATABASE_MAX_OVERFLOW"] = map(str, pool)
    proc = subprocess.Popen([sys.executable, "-m", "candidatures"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-3000:])
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("candidatures did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): a figure the machine's load cannot inflate
    the way it inflates wall-clock rates."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def connections_opened(http: httpx.AsyncClient) -> float:
    """The service's ``jumelage_db_connections_opened_total`` (from ``/metrics``)."""
    text = (await http.get("/metrics")).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("jumelage_db_connections_opened_total"))


async def http_submissions(database_url: str, count: int, concurrency: int,
                           pool: tuple[int, int] | None = None) -> tuple[float, list[float], float, float]:
    port = free_port()
    root = f"bench{uuid.uuid4().hex[:8]}"
    proc = await start_service(database_url, port, root, pool)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
            year = datetime.now(UTC).year + 1
            await http.post("/admin/clock", json={"now": f"{year}-03-01T09:00:00+00:00"}, headers=auth("admin", "*"))
            r = await http.post("/campaigns", headers=auth("academie", "paris"), json={
                "campaign_id": "bench", "academie": "paris", "dispositif": "culture",
                "school_year": f"{year}-{year + 1}", "title": "Benchmark", "calendar": calendar(year)})
            assert r.status_code == 201, r.text
            r = await http.post("/campaigns/bench/offers", headers=auth("partner", "musee"), json={
                "offer_id": "offer-1", "title": "Musee", "capacity_classes": 500, "levels": ["CM1", "CM2"],
                "resources": [{"kind": "visit", "description": "Visites"}],
                "partner": {"partner_id": "musee", "kind": "cultural_structure", "name": "Musee",
                            "address": "1 rue", "commune": "Paris"}})
            assert r.status_code == 201, r.text
            school = auth("school", "0750655E")
            for i in range(min(concurrency, 50)):  # warm-up: connections, caches, statements
                await http.post("/campaigns/bench/candidatures", json=submission(-1 - i), headers=school)
            todo = iter(range(count))
            latencies: list[float] = []

            async def worker() -> None:
                for i in todo:
                    t0 = time.perf_counter()
                    resp = await http.post("/campaigns/bench/candidatures", json=submission(i), headers=school)
                    latencies.append(time.perf_counter() - t0)
                    assert resp.status_code == 201, resp.text

            opened_before = await connections_opened(http)
            cpu_before = cpu_seconds(proc.pid)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            cpu_ms = (cpu_seconds(proc.pid) - cpu_before) / count * 1000
            opened = await connections_opened(http) - opened_before
            return count / elapsed, sorted(latencies), cpu_ms, opened
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        await drop_streams(root)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pool", default=None, metavar="SIZE,OVERFLOW",
                        help="the service's DATABASE_POOL_SIZE,DATABASE_MAX_OVERFLOW (default: the kit's)")
    args = parser.parse_args()
    pool = tuple(int(x) for x in args.pool.split(",")) if args.pool else None
    server = os.environ.get("JUMELAGE_BENCH_DATABASE_URL", DEFAULT_SERVER)
    payload = json.dumps(submission(0))
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure: say so

    async with Scratch(server, "cand_http") as db:
        url = urlunsplit(("postgresql+asyncpg", db.netloc, "/" + db.database, "", ""))
        http_rate, latencies, cpu_ms, opened = await http_submissions(url, args.submissions, args.concurrency, pool)
    async with Scratch(server, "cand_raw") as db:
        raw_rate = await raw_asyncpg(db.dsn, args.submissions, args.concurrency, payload)
        raw_single = await raw_asyncpg(db.dsn, args.submissions, 1, payload)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(f"submissions: {args.submissions}, concurrency: {args.concurrency}, PostgreSQL: {urlsplit(server).netloc}, "
          f"cores: {os.cpu_count()}, load average before: {load_before:.2f}")
    print(f"  http submit (service process)     {http_rate:9.0f} /s   p50 {pct(0.5):6.1f} ms  p99 {pct(0.99):6.1f} ms")
    print(f"  service CPU per submission       {cpu_ms:9.2f} ms   (ceiling on one free core: {1000 / cpu_ms:.0f} /s)")
    print(f"  db connections opened in the run {opened:9.0f}      (pool {args.pool or 'default'}; >0: overflow churn)")
    print(f"  raw asyncpg, {args.concurrency:2d} connections     {raw_rate:9.0f} txn/s")
    print(f"  raw asyncpg, 1 connection        {raw_single:9.0f} txn/s")
    print(f"  ratio http / raw({args.concurrency})            {http_rate / raw_rate:9.2f}")
    print(f"  ratio http / raw(1)              {http_rate / raw_single:9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
