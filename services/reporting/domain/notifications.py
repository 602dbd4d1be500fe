"""Projection of the notifications service's events (reminders)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .model import Dims, Effects, Entry, Fact, Incoming

State = Mapping[str, dict[str, Any]]


def reminder_key(reminder_id: str) -> str:
    return f"reminder:{reminder_id}"


def needs(ev: Incoming) -> list[str]:
    return [reminder_key(ev.data["reminder_id"])]


def _timeline(reminder: dict[str, Any], ev_type: str, text: str) -> list[Entry]:
    # A reminder about a partnership shows on that partnership's timeline.
    pid = reminder.get("partnership_id")
    return [Entry(f"partnership:{pid}", ev_type, text)] if pid else []


def reminder_scheduled(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = reminder_key(d["reminder_id"])
    if key in st:
        return Effects()  # re-planned with the same id: the same reminder
    ref = d.get("subject") or {}
    reminder = {"rule": d.get("rule"), "partnership_id": ref.get("partnership_id"), "title": d.get("title"),
                "school_year": ref.get("school_year")}
    return Effects(
        facts=[Fact(key, "reminders_scheduled", kind=d.get("rule"), school_year=ref.get("school_year"))],
        dims=[Dims(key, "reminder", academie=ref.get("academie") or ev.academie, dispositif=ref.get("dispositif"),
                   school_year=ref.get("school_year"), uai=ref.get("uai"), label=d.get("title"))],
        timeline=_timeline(reminder, ev.type, f"Rappel prévu : {d.get('title')}"),
        state={key: reminder},
    )


def _outcome(metric: str, flag: str, label: str, counts: Callable[[dict], bool] = lambda d: True):
    """Sent, failed for good, or cancelled: each counted once per reminder (delivery is at least
    once, so the same ReminderSent may come twice)."""

    def step(ev: Incoming, st: State) -> Effects:
        key = reminder_key(ev.data["reminder_id"])
        reminder = st.get(key) or {}
        if reminder.get("outcome") or not counts(ev.data):
            return Effects()
        return Effects(
            facts=[Fact(key, metric, kind=ev.data.get("rule") or reminder.get("rule"),
                        school_year=reminder.get("school_year"))],
            timeline=_timeline(reminder, ev.type, f"{label} : {reminder.get('title') or ev.data.get('rule')}"),
            state={key: {**reminder, "outcome": flag}},
        )

    return step


_sent = _outcome("reminders_sent", "sent", "Rappel envoyé")


def reminder_sent(ev: Incoming, st: State) -> Effects:
    """Sent, or sent after all: a reminder cancelled while its mail was on the wire gets a
    ReminderSent after its ReminderCancelled; from then on it counts as sent, not cancelled."""
    key = reminder_key(ev.data["reminder_id"])
    reminder = st.get(key) or {}
    if reminder.get("outcome") != "cancelled":
        return _sent(ev, st)
    kind, year = ev.data.get("rule") or reminder.get("rule"), reminder.get("school_year")
    return Effects(
        facts=[Fact(key, "reminders_sent", kind=kind, school_year=year),
               Fact(key, "reminders_cancelled", n=-1, kind=kind, school_year=year)],
        timeline=_timeline(reminder, ev.type, f"Rappel envoyé : {reminder.get('title') or ev.data.get('rule')}"),
        state={key: {**reminder, "outcome": "sent"}},
    )


HANDLERS: dict[str, Callable[[Incoming, State], Effects]] = {
    "ReminderScheduled": reminder_scheduled,
    "ReminderSent": reminder_sent,
    "ReminderFailed": _outcome("reminders_failed", "failed", "Rappel en échec", lambda d: bool(d.get("final"))),
    "ReminderCancelled": _outcome("reminders_cancelled", "cancelled", "Rappel annulé"),
}
