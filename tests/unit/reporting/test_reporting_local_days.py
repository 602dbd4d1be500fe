"""Days and months are Paris days, and once-only facts count once whatever the event id.

The instants are the ones where the UTC date differs from the Paris date (21:00–23:59 UTC), on
both sides of midnight Paris, in summer (UTC+2) and in winter (UTC+1)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from reporting.adapters.projector import day_of
from reporting.domain import candidatures, programmes
from reporting.domain.model import Incoming

UTC = timezone.utc


@pytest.mark.parametrize("moment, day", [
    (datetime(2025, 8, 31, 21, 59, tzinfo=UTC), date(2025, 8, 31)),   # 23:59 in Paris
    (datetime(2025, 8, 31, 22, 0, tzinfo=UTC), date(2025, 9, 1)),     # midnight in Paris: next school year
    (datetime(2025, 12, 31, 22, 59, tzinfo=UTC), date(2025, 12, 31)),  # winter, UTC+1
    (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), date(2026, 1, 1)),
])
def test_the_day_of_an_event_is_its_paris_day(moment, day):
    assert day_of(moment) == day


@pytest.mark.parametrize("moment, month", [
    ("2026-03-31T21:59:00+00:00", "2026-03"),   # 23:59 Paris, after the spring change
    ("2026-03-31T22:00:00+00:00", "2026-04"),
    ("2025-10-31T22:59:00+00:00", "2025-10"),   # after the autumn change: UTC+1
    ("2025-10-31T23:00:00+00:00", "2025-11"),
])
def test_an_action_counts_in_its_paris_month(moment, month):
    assert programmes.month_of(moment) == month


def _incoming(event_id: str, type_: str, data: dict) -> Incoming:
    at = datetime(2026, 6, 2, 10, tzinfo=UTC)
    return Incoming(event_id=event_id, type=type_, source="test", stream_id="s-1", occurred_at=at,
                    day=day_of(at), academie="paris", data=data)


def _twice(step, type_: str, data: dict) -> tuple[list, list]:
    """The same fact delivered under two event ids: the second sees the state the first left."""
    first = step(_incoming("ev-1", type_, data), {})
    second = step(_incoming("ev-2", type_, data), dict(first.state))
    return [f.metric for f in first.facts], [f.metric for f in second.facts]


def test_a_bilan_recorded_twice_under_two_event_ids_counts_once():
    data = {"partnership_id": "p-1", "school_year": "2025-2026", "year_index": 1, "planned": 4, "realised": 3,
            "wish_to_continue": True, "school": {"satisfaction": 4}, "partner": {"satisfaction": 3}}
    first, second = _twice(programmes.bilan_recorded, "BilanRecorded", data)
    assert "bilans_recorded" in first
    assert second == []


def test_a_campaign_closed_twice_under_two_event_ids_counts_once():
    first, second = _twice(candidatures.campaign_closed, "CampaignClosed", {"campaign_id": "camp-1"})
    assert first == ["campaigns_closed"]
    assert second == []


@pytest.mark.parametrize("year", [1950, 1976, 1996, 2025, 2026, 2040])
def test_the_day_of_every_minute_of_a_year_is_its_paris_day_in_any_order(year):
    """``day_of`` remembers the day of each UTC hour: around every change of time, at every
    minute, forwards and backwards (a fresh hour or one already met), it stays the zone's day."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo
    paris = ZoneInfo("Europe/Paris")
    start = datetime(year, 1, 1, tzinfo=UTC)
    minutes = [start + timedelta(minutes=m) for m in range(0, 366 * 24 * 60, 7)]
    for moment in [*minutes, *reversed(minutes)]:
        assert day_of(moment) == moment.astimezone(paris).date(), moment
    offset = timezone(timedelta(hours=5, minutes=30))  # an instant given in another zone
    for moment in minutes[::50]:
        assert day_of(moment.astimezone(offset)) == moment.astimezone(paris).date(), moment
