"""Reminder outcomes in reporting: each reminder counted once, as what people received."""

from __future__ import annotations

from datetime import datetime, timezone

from reporting.domain.model import Incoming
from reporting.domain.notifications import HANDLERS

AT = datetime(2025, 9, 15, 6, 0, tzinfo=timezone.utc)
RID = "rem-1"
SUBJECT = {"academie": "paris", "dispositif": "culture", "school_year": "2025-2026", "partnership_id": "p-1"}


def incoming(type_: str, **data) -> Incoming:
    return Incoming(event_id=f"e-{type_}", type=type_, source="notifications", stream_id=f"reminder-{RID}",
                    occurred_at=AT, day=AT.date(), academie="paris",
                    data={"reminder_id": RID, "rule": "work_meeting_to_hold", **data})


def project(*events: Incoming) -> tuple[dict[str, int], list[str]]:
    """Net count per metric and the timeline's texts after the events."""
    state: dict = {}
    counts: dict[str, int] = {}
    timeline: list[str] = []
    for ev in events:
        effects = HANDLERS[ev.type](ev, state)
        state.update(effects.state)
        for fact in effects.facts:
            counts[fact.metric] = counts.get(fact.metric, 0) + fact.n
        timeline += [entry.summary for entry in effects.timeline]
    return {m: n for m, n in counts.items() if n}, timeline


SCHEDULED = incoming("ReminderScheduled", subject=SUBJECT, title="Réunion de travail à organiser")
CANCELLED = incoming("ReminderCancelled", reason="satisfied")
SENT = incoming("ReminderSent", message_id="<m@j>")


def test_a_cancelled_reminder_counts_as_cancelled() -> None:
    counts, _ = project(SCHEDULED, CANCELLED)
    assert counts == {"reminders_scheduled": 1, "reminders_cancelled": 1}


def test_a_reminder_sent_after_its_cancellation_counts_as_sent_and_no_longer_as_cancelled() -> None:
    counts, timeline = project(SCHEDULED, CANCELLED, SENT)
    assert counts == {"reminders_scheduled": 1, "reminders_sent": 1}
    assert timeline[-1] == "Rappel envoyé : Réunion de travail à organiser"


def test_a_sent_reminder_redelivered_or_cancelled_afterwards_is_counted_once_as_sent() -> None:
    counts, _ = project(SCHEDULED, SENT, SENT, CANCELLED)
    assert counts == {"reminders_scheduled": 1, "reminders_sent": 1}
    counts, _ = project(SCHEDULED, CANCELLED, SENT, SENT)
    assert counts == {"reminders_scheduled": 1, "reminders_sent": 1}
