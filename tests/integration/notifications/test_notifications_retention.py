"""Retention timers (RGPD, issue 16) on SQLite and PostgreSQL: planned from programmes' events
through the consumer's handler, moved by a renewal and by a late end, fired by the scheduler as
one ``RetentionExpired`` per partnership and year — never twice."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from jumelage_contracts.reference import Dispositif
from notifications.app import retention
from notifications.app.scheduler import Scheduler
from notifications.domain.retention import RetentionPolicy
from tests.integration.notifications.notif_events import PID, example

UTC = timezone.utc
END_OF_2025_2026 = datetime(2026, 8, 31, 22, tzinfo=UTC)  # 1 September 2026, 00:00 in Paris


def year(index: int, dispositif: str = "culture"):
    start = 2024 + index
    return example("ProgrammeYearOpened", year_index=index, school_year=f"{start}-{start + 1}",
                   opened_by="attribution" if index == 1 else "renewal", dispositif=dispositif,
                   tier="approfondir" if dispositif == "culture" else None)


def ended(index: int, at: datetime):
    start = 2024 + index
    return example("PartnershipEnded", year_index=index, school_year=f"{start}-{start + 1}", ended_at=at.isoformat(),
                   years=index, reason="renewal_declined")


async def timer(h):
    from sqlalchemy import select

    from notifications.adapters.db import retention as table

    async with h.store.engine.connect() as conn:
        return (await conn.execute(select(table).where(table.c.partnership_id == PID))).first()


@pytest.fixture(params=["sqlite", "postgresql"])
def h(request, harness, pg_harness):
    return harness if request.param == "sqlite" else pg_harness


async def test_a_year_opened_plans_its_retention_three_years_after_31_august(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    row = await timer(h)
    assert (row.status, row.year_index, row.retained_from, row.retention_years, row.due_at) == (
        "pending", 1, END_OF_2025_2026, 3, datetime(2029, 8, 31, 22, tzinfo=UTC))


async def test_a_renewal_moves_the_timer_to_the_end_of_the_new_year(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    h.clock.set(datetime(2026, 7, 3, 10, tzinfo=UTC))
    await h.play(year(2))
    await h.play(year(1))  # a late copy of the first year moves nothing back
    row = await timer(h)
    assert (row.year_index, row.school_year, row.due_at) == (2, "2026-2027", datetime(2030, 8, 31, 22, tzinfo=UTC))


async def test_an_end_after_the_school_year_counts_from_the_end_and_one_within_it_changes_nothing(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    await h.play(ended(1, datetime(2026, 6, 30, 10, tzinfo=UTC)))
    assert (await timer(h)).due_at == datetime(2029, 8, 31, 22, tzinfo=UTC)
    late = datetime(2026, 10, 2, 10, tzinfo=UTC)
    await h.play(ended(1, late))
    row = await timer(h)
    assert (row.retained_from, row.due_at) == (late, datetime(2029, 10, 2, 10, tzinfo=UTC))


async def test_the_timer_says_retention_expired_once_at_its_time(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    await h.move_to(datetime(2029, 8, 31, 21, 59, tzinfo=UTC))
    assert await h.events("RetentionExpired") == []
    await h.move_to(datetime(2029, 9, 1, tzinfo=UTC))
    [expired] = await h.events("RetentionExpired")
    assert expired.stream_id == f"retention-{PID}" and expired.academie == "paris"
    assert (expired.data["partnership_id"], expired.data["year_index"], expired.data["school_year"]) == (
        PID, 1, "2025-2026")
    assert expired.occurred_at == datetime(2029, 8, 31, 22, tzinfo=UTC)  # fired at its own time on the way
    assert (await timer(h)).status == "expired"
    await h.move_to(datetime(2030, 1, 1, tzinfo=UTC))
    await h.scheduler.tick()
    assert len(await h.events("RetentionExpired")) == 1


async def test_two_schedulers_firing_the_same_due_timer_at_once_say_it_once(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    h.clock.set(datetime(2029, 9, 2, tzinfo=UTC))
    other = Scheduler(h.store, h.clock, h.scheduler.mailer, public_url="http://notif.test")
    await asyncio.gather(retention.fire_all_due(h.store, h.clock.now()),
                         retention.fire_all_due(other.store, h.clock.now()), return_exceptions=False)
    assert len(await h.events("RetentionExpired")) == 1


async def test_a_renewal_after_the_expiry_plans_the_next_one(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    h.clock.set(datetime(2029, 9, 2, tzinfo=UTC))
    await retention.fire_all_due(h.store, h.clock.now())
    await h.play(year(2))  # a renewal granted that late: the partnership lives again
    row = await timer(h)
    assert (row.status, row.year_index, row.due_at) == ("pending", 2, datetime(2030, 8, 31, 22, tzinfo=UTC))
    await retention.fire_all_due(h.store, datetime(2030, 9, 1, tzinfo=UTC))
    assert [e.data["year_index"] for e in await h.events("RetentionExpired")] == [1, 2]


async def test_a_dispositif_kept_for_ever_plans_no_expiry(h) -> None:
    h.handler.retention_policy = RetentionPolicy({**RetentionPolicy().by_dispositif, Dispositif.culture: None})
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    row = await timer(h)
    assert (row.status, row.due_at) == ("never", None)
    await retention.fire_all_due(h.store, datetime(2099, 1, 1, tzinfo=UTC))
    assert await h.events("RetentionExpired") == []


async def test_a_retention_changed_by_the_operator_retimes_the_pending_timers_at_start(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    shorter = RetentionPolicy({**RetentionPolicy().by_dispositif, Dispositif.culture: 0})
    assert await retention.apply_policy(h.store, shorter, h.clock.now()) == 1
    assert (await timer(h)).due_at == END_OF_2025_2026
    assert await retention.apply_policy(h.store, shorter, h.clock.now()) == 0
    never = RetentionPolicy({**RetentionPolicy().by_dispositif, Dispositif.culture: None})
    await retention.apply_policy(h.store, never, h.clock.now())
    assert ((await timer(h)).status, (await timer(h)).due_at) == ("never", None)


async def test_a_rebuild_plans_the_retention_of_partnerships_learnt_before_it_existed_and_keeps_what_fired(h) -> None:
    """The upgrade path: timers of partnerships notifications learnt before this version come
    from ``python -m notifications rebuild``; a timer that fired stays fired; a second rebuild
    changes nothing."""
    from sqlalchemy import delete

    from notifications.adapters.db import retention as table
    from notifications.adapters.replay import ListLog
    from notifications.app.rebuild import rebuild, sources_of

    h.clock.set(datetime(2025, 7, 4, 10, tzinfo=UTC))
    await h.play(year(1))
    other = example("ProgrammeYearOpened", partnership_id="p-other")
    await h.play(other)
    await retention.fire_all_due(h.store, datetime(2029, 9, 2, tzinfo=UTC))  # both fired
    async with h.store.transaction() as tx:
        await tx.connection.execute(delete(table).where(table.c.partnership_id == PID))  # as before the upgrade
    h.clock.set(datetime(2029, 9, 3, tzinfo=UTC))
    report = await rebuild(h.store, ListLog(sources_of(h.played)), h.clock)
    assert report["retention_timers_changed"] == 1
    row = await timer(h)
    assert (row.status, row.due_at) == ("pending", datetime(2029, 8, 31, 22, tzinfo=UTC))  # due: fires at once
    again = await rebuild(h.store, ListLog(sources_of(h.played)), h.clock)
    assert again["retention_timers_changed"] == 0
    await h.scheduler.tick()
    assert sorted(e.data["partnership_id"] for e in await h.events("RetentionExpired")) == sorted([PID, "p-other"])
