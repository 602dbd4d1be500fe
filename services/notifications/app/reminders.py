"""Load → decide → append for reminder streams, with the timer row kept in the same transaction.

The ``notif_timers`` row is the durable timer and the snapshot of its stream (``stream_version``
says which event it reflects): it is rewritten by every append to the stream, in the same
transaction, so it can stand for the fold of the stream when deciding.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from jumelage_contracts import Actor, Role, to_envelope
from jumelage_contracts.reference import Academie
from jumelage_contracts.notifications import (
    Recipient, ReminderCancelled, ReminderMissed, ReminderScheduled, ReminderSent,
)

from ..adapters import db
from ..domain.planning import Plan, Trigger
from ..domain.referents import referents_carry_over_until_the_side_names_new_ones
from ..domain.reminder import (
    Cancelled, CancelReminder, Command, GaveUp, Missed, NotPlanned, Pending, PlanReminder, Sent, State, decide,
)

SERVICE_ACTOR = Actor(role=Role.system, id="notifications")


def stream_of(reminder_id: str) -> str:
    return f"reminder-{reminder_id}"


def state_of(row: Any) -> State:
    if row is None:
        return NotPlanned()
    if row.status == "pending":
        return Pending(row.reminder_id, row.rule, row.dedup_key, row.due_at, row.next_attempt_at, row.attempts)
    if row.status == "sent":
        return Sent(row.reminder_id, row.rule, row.dedup_key, row.message_id or "")
    if row.status == "cancelled":
        return Cancelled(row.reminder_id, row.rule, row.dedup_key, row.last_error or "", row.attempts)
    if row.status == "missed":
        return Missed(row.reminder_id, row.rule, row.dedup_key, row.last_error or "")
    return GaveUp(row.reminder_id, row.rule, row.dedup_key, row.last_error or "", row.attempts)


# -- recipients --------------------------------------------------------------------------------------

def academie_name(slug: str) -> str:
    """``académie de Paris``, ``académie d'Orléans-Tours``: the académie as its people write it."""
    try:
        label = Academie(slug).label
    except ValueError:
        label = slug
    return f"académie d'{label}" if label[:1].lower() in "aeiouyéèêh" and not label.startswith("La ") \
        else f"académie de {label}"


def school_mailbox(uai: str, name: str, academie: str) -> Recipient:
    """The school's functional mailbox (``ce.<UAI>@ac-<académie>.fr``)."""
    return Recipient(role="school", name=name, email=f"ce.{uai.lower()}@ac-{academie}.fr")


async def directory(conn: AsyncConnection, *, academie: str, partnership_id: str | None,
                    school_year: str | None, uai: str | None, school_name: str | None,
                    candidature_id: str | None = None) -> dict[str, tuple[Recipient, ...]]:
    """Who plays each recipient role for a subject, as known now."""
    refs = referents_carry_over_until_the_side_names_new_ones(
        await db.active_referents(conn, partnership_id, None), school_year) if partnership_id else []
    contacts = {role: await db.academie_contact(conn, academie, role) for role in ("school", "academie")}
    known = (await db.partnership(conn, partnership_id, school_year) if partnership_id else
             await db.candidature(conn, candidature_id) if candidature_id else None)
    contact_email = known.contact_email if known is not None else None
    if known is not None and school_name is None:
        school_name = known.school_name
    return directory_from(refs, contacts, academie=academie, uai=uai, school_name=school_name,
                          contact_email=contact_email)


def directory_from(refs: list[Any], contacts: dict[str, Any], *, academie: str, uai: str | None,
                   school_name: str | None, contact_email: str | None = None) -> dict[str, tuple[Recipient, ...]]:
    """The directory from rows already read (the scheduler reads them for a whole batch at once).
    ``contact_email``: an ACM organiser's own (plan mercredi): it applied and holds the school
    side, so what goes to a school's functional mailbox goes there."""
    found: dict[str, list[Recipient]] = {"school_referent": [], "partner_referent": [], "teacher": []}
    for ref in refs:
        role = "school_referent" if ref.side == "school" else "partner_referent"
        person = getattr(ref, "referent_id", None)
        found[role].append(Recipient(role=role, person_id=person, name=ref.name, email=ref.email))
        if ref.side == "school" and ref.role == "teacher":
            found["teacher"].append(Recipient(role="teacher", person_id=person, name=ref.name, email=ref.email))
    if contact_email:
        organiser = Recipient(role="school", name=school_name or contact_email, email=contact_email)
        found["school"] = [organiser]
        if not found["school_referent"]:
            found["school_referent"] = [organiser]
    elif uai:
        school = school_mailbox(uai, school_name or uai, academie)
        # Until the school names its referent, its functional mailbox receives what the referent would.
        found["school"] = [school]
        if not found["school_referent"]:
            found["school_referent"] = [school]
    else:
        contact = contacts.get("school")
        found["school"] = [Recipient(role="school", name=contact.name, email=contact.email) if contact else
                           Recipient(role="school", name=f"Écoles et établissements – {academie_name(academie)}",
                                     email=f"diffusion.jumelage@ac-{academie}.fr")]
    contact = contacts.get("academie")
    found["academie"] = [Recipient(role="academie", name=contact.name, email=contact.email) if contact else
                         Recipient(role="academie", name=f"DAAC – {academie_name(academie)}", email=f"daac@ac-{academie}.fr")]
    return {role: tuple(people) for role, people in found.items()}


async def directory_for_trigger(conn: AsyncConnection, trigger: Trigger) -> dict[str, tuple[Recipient, ...]]:
    return await directory(conn, academie=trigger.academie, partnership_id=trigger.partnership_id,
                           school_year=trigger.school_year, uai=trigger.uai,
                           school_name=trigger.facts.get("school_name"), candidature_id=trigger.candidature_id)


# -- executing commands --------------------------------------------------------------------------------

async def execute(tx: Any, reminder_id: str, command: Command, *, now: datetime, correlation_id: uuid.UUID,
                  causation_id: uuid.UUID | None = None, row: Any = None) -> list[Any]:
    """Decide ``command`` on the reminder's current state, append the events and mirror them in
    the timer row, all in ``tx``. Returns the events (empty when nothing changed). ``row``: the
    timer row when the caller holds it locked already, saving a query."""
    conn = tx.connection
    if row is None:
        row = await db.timer(conn, reminder_id)
    events = decide(command, state_of(row))
    if not events:
        return []
    academie = row.academie if row is not None else command.planned.subject["academie"]  # type: ignore[union-attr]
    envelopes = [to_envelope(e, stream_id=stream_of(reminder_id), occurred_at=now, correlation_id=correlation_id,
                             causation_id=causation_id, actor=SERVICE_ACTOR, academie=academie) for e in events]
    result = await tx.append(stream_of(reminder_id), envelopes, row.stream_version if row is not None else 0)
    for event in events:
        await _mirror(conn, event, command, result.stream_version, now)
    return events


async def record_many(tx: Any, work: list[tuple[Any, Command]], *, now: datetime,
                      correlation_id: uuid.UUID) -> int:
    """Decide each ``(timer row, command)`` on the row's state, append every stream's events
    with ONE ``append_many`` (each stream at the version its row says) and update the rows in
    one executemany. The rows must be locked by the caller. Returns how many events."""
    appends: list[tuple[str, list[Any], int]] = []
    decided: list[list[Any]] = []
    for row, command in work:
        events = decide(command, state_of(row))
        if not events:
            continue
        stream = stream_of(row.reminder_id)
        appends.append((stream, [to_envelope(e, stream_id=stream, occurred_at=now, correlation_id=correlation_id,
                                             actor=SERVICE_ACTOR, academie=row.academie) for e in events],
                        row.stream_version))
        decided.append(events)
    if not appends:
        return 0
    results = await tx.append_many(appends)
    await db.update_timers(tx.connection, [(e.reminder_id, timer_changes(e, result.stream_version, now))
                                           for events, result in zip(decided, results) for e in events])
    return sum(len(events) for events in decided)


def timer_changes(event: Any, version: int, now: datetime) -> dict[str, Any]:
    """The timer row's new values after a sent / cancelled / failed event."""
    if isinstance(event, ReminderSent):
        return {"status": "sent", "message_id": event.message_id, "sent_at": event.sent_at, "attempts": event.attempt,
                "recipients": [r.model_dump() for r in event.recipients], "stream_version": version, "updated_at": now}
    if isinstance(event, ReminderCancelled):
        return {"status": "cancelled", "last_error": event.reason, "stream_version": version, "updated_at": now}
    if isinstance(event, ReminderMissed):
        return {"status": "missed", "last_error": event.reason, "late_until": event.late_until,
                "stream_version": version, "updated_at": now}
    values: dict[str, Any] = {"attempts": event.attempt, "last_error": event.error, "stream_version": version,
                              "updated_at": now}
    if event.final or event.next_retry_at is None:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = event.next_retry_at
    return values


async def _mirror(conn: AsyncConnection, event: Any, command: Command, version: int, now: datetime) -> None:
    rid = event.reminder_id
    if isinstance(event, (ReminderScheduled, ReminderMissed)) and isinstance(command, PlanReminder):
        p = command.planned
        subject = p.subject
        await db.save_timer(conn, {
            "reminder_id": rid, "dedup_key": p.dedup_key, "rule": p.rule, "kind": p.kind, "template": p.template,
            "scope": p.scope, "scope_id": p.scope_id, "school_year": p.school_year, "academie": subject["academie"],
            "dispositif": subject.get("dispositif"), "campaign_id": subject.get("campaign_id"),
            "partnership_id": subject.get("partnership_id"), "action_id": subject.get("action_id"),
            "meeting_id": subject.get("meeting_id"), "uai": subject.get("uai"), "audience": list(p.audience),
            "recipients": [r.model_dump() for r in p.recipients], "title": p.title, "place": p.place,
            "event_at": p.event_at, "due_at": p.due_at, "next_attempt_at": p.due_at,
            "status": "missed" if isinstance(event, ReminderMissed) else "pending",
            "attempts": 0, "last_error": p.missed if isinstance(event, ReminderMissed) else None,
            "message_id": None, "sent_at": None, "late_until": p.late_until, "detail": p.detail,
            "stream_version": version, "updated_at": now,
        })
    else:
        await db.update_timer(conn, rid, **timer_changes(event, version, now))


async def apply_plans(tx: Any, plans: Iterable[Plan], *, now: datetime, correlation_id: uuid.UUID,
                      causation_id: uuid.UUID | None, caused_by: str | None,
                      extra_cancels: Iterable[tuple[str, str]] = ()) -> int:
    """Carry the plans out. Every timer row involved is locked BEFORE the first append, as the
    scheduler does when it records a batch: one order (rows, then appends, whose unique index
    entries other appenders may wait on) everywhere, so the two cannot deadlock."""
    conn = tx.connection
    work: list[tuple[str, Command]] = []
    for plan in plans:
        for cancel in plan.cancel:
            for row in await db.pending_timers_of(conn, cancel.scope, cancel.scope_id, cancel.rules, cancel.school_year):
                if row.dedup_key not in cancel.keep:
                    work.append((row.reminder_id, CancelReminder(cancel.reason, now)))
        for planned in plan.schedule:
            await db.timer(conn, planned.reminder_id, lock=True)
            work.append((planned.reminder_id, PlanReminder(planned, caused_by=caused_by, now=now)))
    for reminder_id, reason in extra_cancels:
        work.append((reminder_id, CancelReminder(reason, now)))
    count = 0
    for reminder_id, command in work:
        count += len(await execute(tx, reminder_id, command, now=now, correlation_id=correlation_id,
                                   causation_id=causation_id))
    return count


async def refresh_recipients(conn: AsyncConnection, partnership_id: str, school_year: str | None) -> None:
    """A referent was named or replaced: the pending reminders of the partnership now list the
    people who will actually receive them (the scheduler resolves them again when firing)."""
    from ..domain.planning import recipients_for

    from .facts import item_uid

    for row in await db.pending_timers_of_partnership(conn, partnership_id):
        year = row.school_year
        if year is None and (row.action_id or row.meeting_id):  # the year of its calendar item
            kind, ref = ("action", row.action_id) if row.action_id else ("meeting", row.meeting_id)
            item = await db.calendar_item(conn, item_uid(kind, partnership_id, ref))
            year = item.school_year if item is not None else None
        known = await directory(conn, academie=row.academie, partnership_id=partnership_id,
                                school_year=year or school_year, uai=row.uai, school_name=None)
        current = recipients_for(tuple(row.audience), known)
        if current:
            await db.update_timer(conn, row.reminder_id, recipients=[r.model_dump() for r in current])
