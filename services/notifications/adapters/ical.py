"""iCalendar feeds (RFC 5545) from the calendar items: stable UIDs, SEQUENCE raised on each
change, cancelled items kept with STATUS:CANCELLED so subscribed calendars remove them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from icalendar import Calendar, Event

PRODID = "-//Jumelage//notifications//FR"


def feed(name: str, items: Iterable[Any], now: datetime,
         page_of: Callable[[Any], str | None] = lambda item: None) -> bytes:
    """``page_of(item)``: the page a person opens for the item (its URL property), if any."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    # Calendar apps poll a subscription; ask for a refresh about every hour.
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for item in items:
        calendar.add_component(_event(item, now, page_of(item)))
    return calendar.to_ical()


def _event(item: Any, now: datetime, url: str | None = None) -> Event:
    event = Event()
    event.add("uid", item.uid)
    event.add("dtstamp", now)
    event.add("last-modified", item.updated_at)
    event.add("sequence", item.sequence)
    event.add("summary", item.summary)
    if item.all_day:
        day = _day_of(item.starts_at, item.academie)
        event.add("dtstart", day)
        # A window (the work meeting's) spans days: DTEND is the day after its last (exclusive).
        last = _day_of(item.ends_at, item.academie) if item.ends_at is not None else None
        event.add("dtend", last if last is not None and last > day else day + timedelta(days=1))
    else:
        event.add("dtstart", item.starts_at)
        event.add("dtend", item.ends_at or item.starts_at + timedelta(minutes=30))
    if item.place:
        event.add("location", item.place)
    if item.description:
        event.add("description", item.description)
    event.add("status", "CANCELLED" if item.status == "CANCELLED" else "CONFIRMED")
    event.add("categories", [item.kind])
    if url:
        event.add("url", url)
    return event


def _day_of(value: datetime, academie: str):
    return value.date() if value.tzinfo is None else _local_day(value, academie)


def _local_day(value: datetime, academie: str):
    from ..domain.planning import timezone_of

    return value.astimezone(timezone_of(academie)).date()
