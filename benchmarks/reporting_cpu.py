"""The rebuild's projection alone: CPU per event, no database.

    .venv/bin/python -m benchmarks.reporting_cpu [--events 100000] [--repeat 3] [--profile FILE]

A ``reporting.sample`` history (``benchmarks.reporting.make_history``, same seed) projected the
way one process of :func:`reporting.app.rebuild.rebuild` projects it — source after source, its
``_replay`` loop (``project_bulk`` on slices of 500 events of batches of 5 000), then ``snapshot``
— with the rows kept in memory instead of written. Prints the process CPU time per
event (best of ``--repeat``, each on a fresh projector) and a digest of every row produced
(each table's rows as a multiset, each row's columns by name), so two versions of the projection can be compared on speed AND output: same history,
same digest, or the change altered a row. ``--profile FILE`` writes a cProfile of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import time

from benchmarks.reporting import by_source, make_history
from reporting.adapters.projector import Projector
from reporting.adapters.tables import generation
from reporting.app.rebuild import ListLog

try:
    from reporting.app.rebuild import _replay
except ImportError:  # the rebuild before issue 14's rebuild work: its loop, inline then
    async def _replay(projector, load, log, source, batch_size):  # type: ignore[no-redef]
        async for envelopes, _ in log.batches(source, 0, batch_size):
            rows: dict = {}
            for start in range(0, len(envelopes), 500):
                for table, more in (await projector.project_bulk(envelopes[start:start + 500])).items():
                    rows.setdefault(table, []).extend(more)
            await load.put(rows)

BATCH = 5000  # benchmarks.reporting's


class Kept:
    """Stands for the rebuild's loader: keeps the rows."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = {}

    async def put(self, rows) -> None:
        for table, more in rows.items():
            self.rows.setdefault(table.name, []).extend(more)


async def project_all(grouped) -> dict[str, list]:
    """Every source replayed in turn, as one rebuild process replays its sources."""
    projector = Projector(generation(1), keep_cache=True)
    kept = Kept()
    log = ListLog(grouped)
    try:
        for source in log.sources:
            await _replay(projector, kept, log, source, BATCH)  # type: ignore[arg-type]
    finally:
        gc.unfreeze()
    await kept.put(projector.snapshot())
    return kept.rows


def digest(out: dict[str, list]) -> tuple[str, dict[str, int]]:
    h = hashlib.sha256()
    for name in sorted(out):
        h.update(name.encode())
        for line in sorted(repr(sorted(row.items())) for row in out[name]):  # the rows, as a set
            h.update(line.encode())
    return h.hexdigest()[:16], {name: len(rows) for name, rows in sorted(out.items())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    grouped = by_source(make_history(args.events))
    total = sum(len(v) for v in grouped.values())
    seconds = []
    out: dict[str, list] = {}
    for _ in range(args.repeat):
        out = {}
        gc.collect()
        started = time.process_time()
        out = asyncio.run(project_all(grouped))
        seconds.append(time.process_time() - started)
    if args.profile:
        cProfile.runctx("asyncio.run(project_all(grouped))", globals(), {"grouped": grouped, "asyncio": asyncio,
                                                                          "project_all": project_all},
                        args.profile)
    best = min(seconds)
    sha, counts = digest(out)
    print(f"{total} events: CPU {best:.2f} s (runs {', '.join(f'{s:.2f}' for s in seconds)}) = "
          f"{best / total * 1e6:.1f} us/event; rows {sum(counts.values())} {counts}; digest {sha}")


if __name__ == "__main__":
    main()
