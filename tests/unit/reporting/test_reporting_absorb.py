"""``Projector.absorb`` (issue 14): the sources rebuilt by projectors of their own, then taken in
by one, leave it exactly as if it had projected them one after the other — subjects both sources
describe merged in the same order, tally summed, state, sources, parked events and erasures."""

from __future__ import annotations

import asyncio
import random

import pytest

from reporting.adapters.projector import Projector
from reporting.adapters.tables import generation
from reporting.sample import history


async def projected(sources: dict[str, list], apart: bool) -> Projector:
    one = Projector(generation(1), keep_cache=True)
    for source, events in sources.items():
        p = Projector(generation(1), keep_cache=True) if apart else one
        for start in range(0, len(events), 100):
            await p.project_bulk(events[start:start + 100])
        if apart:
            one.absorb(p.memory())
    return one


def comparable(p: Projector) -> dict:
    snap = {t.name: sorted(map(repr, (sorted(r.items()) for r in rows))) for t, rows in p.snapshot().items()}
    return {**snap, "seen": sorted(p._seen), "redactions": p._bulk_redactions, "counts": (p.parked, p.released)}


@pytest.mark.parametrize("order", [["candidatures", "programmes", "notifications"],
                                   ["notifications", "programmes", "candidatures"]])
def test_sources_projected_apart_and_absorbed_leave_the_projector_as_projected_together(order):
    events = history(random.Random(3), campaigns=4, candidatures=80, edges=True, erasures=True)
    sources: dict[str, list] = {s: [] for s in order}
    for env in events:
        sources[env.source].append(env)
    lost = sources["programmes"].pop(0)  # its stream's later events stay parked
    together, apart = asyncio.run(projected(sources, False)), asyncio.run(projected(sources, True))

    assert comparable(apart) == comparable(together)
    assert apart.parked > 0 and any(h.envelope.stream_id == lost.stream_id for w in apart._held.values() for h in w)
    # the merge is put to the test: subjects both sources describe, candidatures', taken in after
    # programmes', changing them (the other way round, they happen to agree in these histories)
    both = asyncio.run(projected({"programmes": sources["programmes"], "candidatures": sources["candidatures"]}, True))
    alone = asyncio.run(projected({"programmes": sources["programmes"]}, False))
    assert any(both._dims[s] != alone._dims[s] for s in alone._dims)
