"""Helpers of the order tests: deliveries of a history in another order than the producers', and
what the read model holds, row for row."""

from __future__ import annotations

import random
from typing import Any, Callable

from sqlalchemy import select

from eventkit import metrics
from reporting.adapters import queries
from reporting.app.live import LiveProjection, apply_live

# An effect, and how to recognise its cause among the events before it.
Same = Callable[[Any, Any], bool]


def _same_stream(e, c) -> bool:
    return e.source == c.source and e.stream_id == c.stream_id


def _same(field: str) -> Same:
    return lambda e, c: _same_stream(e, c) and e.data.get(field) == c.data.get(field)


CAUSES: dict[str, tuple[str, Same]] = {
    "ActionCancelled": ("ActionScheduled", _same("action_id")),
    "ActionCompleted": ("ActionScheduled", _same("action_id")),
    "ActionRescheduled": ("ActionScheduled", _same("action_id")),
    "MeetingHeld": ("MeetingScheduled", _same("meeting_id")),
    "BilanRecorded": ("ProgrammeYearOpened", _same("school_year")),
    "BilanSideRecorded": ("ProgrammeYearOpened", _same("school_year")),
    "ClassCancelled": ("ProgrammeYearOpened", _same("school_year")),
    "ProgrammeYearClosed": ("ProgrammeYearOpened", _same("school_year")),
    "RenewalRequested": ("PartnershipAttributed", _same_stream),
    "RenewalGranted": ("RenewalRequested", _same("school_year")),
    "RenewalDeclined": ("RenewalRequested", _same("school_year")),
    "CandidatureReviewed": ("CandidatureSubmitted", _same_stream),
    "CandidatureWithdrawn": ("CandidatureSubmitted", _same_stream),
    "CandidatureRejected": ("CandidatureSubmitted", _same_stream),
    "ReminderSent": ("ReminderScheduled", _same_stream),
    "ReminderCancelled": ("ReminderScheduled", _same_stream),
    "ReminderFailed": ("ReminderScheduled", _same_stream),
    # causes in another stream of the same source
    "OfferPublished": ("CampaignOpened", lambda e, c: c.data["campaign_id"] == e.data["campaign_id"]),
    "OfferPlacesReleased": ("PartnershipAttributed",
                            lambda e, c: c.data["candidature_id"] == e.data["candidature_id"]),
}


def effects_before_causes(events: list, types) -> tuple[list, list]:
    """``events`` with the first effect of each of ``types`` moved to just before its cause; and
    the (effect, cause) pairs moved."""
    out = list(events)
    moved = []
    for effect_type in types:
        cause_type, same = CAUSES[effect_type]
        for i, e in enumerate(out):
            if e.type != effect_type:
                continue
            j = next((j for j in range(i) if out[j].type == cause_type and same(e, out[j])), None)
            if j is not None:
                out.insert(j, out.pop(i))
                moved.append((e, out[j + 1]))
                break
    return out, moved


def interleaved(events: list, rng: random.Random) -> list:
    """The sources merged in a random order, each source's own order kept (what the three
    consumers, each behind by its own amount, may deliver)."""
    queues: dict[str, list] = {}
    for env in events:
        queues.setdefault(env.source, []).append(env)
    out = []
    while queues:
        source = rng.choice(sorted(queues))
        out.append(queues[source].pop(0))
        if not queues[source]:
            del queues[source]
    return out


_OFFER_READERS = ("CandidatureSubmitted", "CandidatureAmended", "CandidatureResubmitted", "PartnershipAttributed")
_OFFER_WRITERS = ("OfferPublished", "OfferUpdated")


def _reads_what_it_passes(effect, passed: list) -> bool:
    """The one lookup across streams that changes over time: a candidature's (or attribution's)
    EAC domains are its offer's as projected when it is. Moving one past an offer's update (or
    the other way round) files it otherwise — the limit the README states."""
    if effect.type in _OFFER_READERS:
        return any(p.type in _OFFER_WRITERS for p in passed)
    if effect.type in _OFFER_WRITERS:
        return any(p.type in _OFFER_READERS for p in passed)
    return False


def some_moved_before_their_causes(events: list, rng: random.Random, count: int) -> tuple[list, int]:
    """Up to ``count`` events moved before an earlier event of their own stream (which may be
    their cause, or merely before it); returns the order and how many distinct events moved."""
    out = list(events)
    moved: set = set()
    for _ in range(count):
        candidates = [i for i, e in enumerate(out) if e.stream_version > 1]
        if not candidates:
            break
        i = rng.choice(candidates)
        e = out[i]
        earlier = [j for j in range(i) if _same_stream(e, out[j]) and out[j].stream_version < e.stream_version]
        if not earlier:
            continue
        j = rng.choice(earlier)
        if _reads_what_it_passes(e, [p for p in out[j:i] if p.source == e.source]):
            continue
        out.insert(j, out.pop(i))
        moved.add(e.id)
    return out, len(moved)


def out_of_turn(events: list) -> int:
    """How many events arrive before their stream's previous one has been projected: each must be
    parked (there may be more: causes in other streams)."""
    done: dict[tuple[str, str], int] = {}
    waiting: dict[tuple[str, str], set[int]] = {}
    count = 0
    for e in events:
        key = (e.source, e.stream_id)
        if e.stream_version != done.get(key, 0) + 1:
            count += 1
            waiting.setdefault(key, set()).add(e.stream_version)
            continue
        done[key] = e.stream_version
        while done[key] + 1 in waiting.get(key, ()):
            waiting[key].discard(done[key] + 1)
            done[key] += 1
    return count


async def feed(engine, events: list, rng: random.Random, batched: bool) -> None:
    """Through the live consumer's one-event path, or its batch path in batches of any size."""
    if not batched:
        for env in events:
            async with engine.begin() as conn:
                await apply_live(conn, env)
        return
    live, start = LiveProjection(), 0
    while start < len(events):
        batch = events[start:start + rng.randint(1, 40)]
        start += len(batch)
        async with engine.begin() as conn:
            await live.apply_many(conn, batch)


def parking(outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("jumelage_reporting_parking_total", {"outcome": outcome}) or 0.0


def parked_gauge() -> float:
    return metrics.REGISTRY.get_sample_value("jumelage_reporting_parked_events", {}) or 0.0


async def rows(engine) -> dict[str, list]:
    """Every row of the current generation's read model, in a canonical order (ids and arrival
    order aside): two projections that agree here answer every query alike."""
    out: dict[str, list] = {}
    async with engine.connect() as conn:
        gen = await queries.current_generation(conn)
        for name in ("fact", "timeline", "subject", "state", "parked", "answer", "rencontre"):
            table = getattr(gen, name)
            cols = [c for c in table.c if c.name not in ("id", "parked_at")]
            out[name] = sorted((tuple(_plain(v) for v in r) for r in (await conn.execute(select(*cols))).all()),
                               key=repr)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return repr(sorted(value.items()))
    if hasattr(value, "tzinfo") and value.tzinfo is not None:  # SQLite gives naive datetimes back
        return value.replace(tzinfo=None)
    return value
