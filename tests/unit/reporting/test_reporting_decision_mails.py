"""Decision mails (notifications' ``decision_*`` rules) travel as reminders: reporting counts them
in ``reminders_sent``, once, under their own kind (the rule), so ``by=kind`` tells them apart."""

from __future__ import annotations

from datetime import datetime, timezone

from reporting.domain.model import Incoming
from reporting.domain.notifications import HANDLERS

AT = datetime(2025, 7, 4, 10, 0, tzinfo=timezone.utc)
SUBJECT = {"academie": "paris", "dispositif": "culture", "school_year": "2025-2026", "partnership_id": "p-1"}


def incoming(type_: str, rid: str, rule: str, **data) -> Incoming:
    return Incoming(event_id=f"e-{type_}-{rid}", type=type_, source="notifications", stream_id=f"reminder-{rid}",
                    occurred_at=AT, day=AT.date(), academie="paris",
                    data={"reminder_id": rid, "rule": rule, **data})


def sent_by_kind(*events: Incoming) -> dict[str, int]:
    state: dict = {}
    found: dict[str, int] = {}
    for ev in events:
        effects = HANDLERS[ev.type](ev, state)
        state.update(effects.state)
        for fact in effects.facts:
            if fact.metric == "reminders_sent":
                found[fact.kind] = found.get(fact.kind, 0) + fact.n
    return found


def test_a_decision_mail_is_counted_as_sent_once_under_its_rule() -> None:
    school = ("rem-d1", "decision_attributed")
    partner = ("rem-d2", "decision_offer_chosen")
    reminder = ("rem-r1", "work_meeting_to_hold")
    events = []
    for rid, rule in (school, partner, reminder):
        events += [incoming("ReminderScheduled", rid, rule, subject=SUBJECT, title=rule),
                   incoming("ReminderSent", rid, rule, message_id=f"<{rid}@j>")]
    events.append(incoming("ReminderSent", *school, message_id="<rem-d1@j>"))  # at least once: a copy
    assert sent_by_kind(*events) == {"decision_attributed": 1, "decision_offer_chosen": 1, "work_meeting_to_hold": 1}
