"""Consumer handlers: an event of candidatures or programmes → facts learnt → triggers → plans
carried out, all in the consumer's transaction (with the kit's inbox row: a redelivered event
plans nothing twice). An event whose cause has not arrived is held until it does
(``app/causes.py``); a reminder is planned against the time its event happened, so one due
while the event was in flight goes out late, or is recorded as missed once its grace is over."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jumelage_contracts import Envelope, EventData, parse_event
from jumelage_contracts.programmes import PersonErased, ReferentDesignated

from eventkit import metrics

from ..adapters import db
from ..domain.planning import Trigger, plan
from ..domain.rules import rules_for
from . import causes, facts
from . import retention
from .erasure import forget_person
from ..domain.retention import RetentionPolicy
from .reminders import apply_plans, directory_for_trigger, refresh_recipients

EVENTS_HELD = metrics.counter("jumelage_notifications_events_held_total",
                              "Events that arrived before their cause and were held until it came", ["type"])
EVENTS_RELEASED = metrics.counter("jumelage_notifications_events_released_total",
                                  "Held events applied once their cause arrived", ["type"])
REMINDERS_LATE = metrics.counter("jumelage_notifications_reminders_late_total",
                                 "Reminders planned after their time (their event was in flight): sent late, "
                                 "within their grace", ["rule"])
REMINDERS_MISSED = metrics.counter("jumelage_notifications_reminders_missed_total",
                                   "Reminders recorded as missed: their time and grace passed before they "
                                   "could go out", ["rule", "reason"])


class EventHandler:
    """``async def (tx, envelope, event)`` as the kit's consumer expects, with the clock bound."""

    def __init__(self, clock: Any, log: Any = None, retention_policy: RetentionPolicy | None = None) -> None:
        self.clock = clock
        self.log = log
        self.retention_policy = retention_policy or RetentionPolicy()

    async def __call__(self, tx: Any, envelope: Envelope, event: EventData) -> None:
        conn = tx.connection
        waiting_for = await causes.missing_cause(conn, event)
        if waiting_for is not None:
            await db.park(conn, envelope, waiting_for, self.clock.now())
            EVENTS_HELD.labels(type=envelope.type).inc()
            if self.log is not None:
                self.log.info("event_held", event_type=envelope.type, event_id=str(envelope.id), waiting_for=waiting_for)
            return
        await self.apply(tx, envelope, event)
        for key in causes.provided_by(event):
            await causes.lock(conn, key)  # after the cause is written: see causes.lock
            for row in await db.take_parked(conn, key):
                held = Envelope.model_validate(row.envelope)
                try:
                    held_event = parse_event(held)
                except ValueError as exc:  # read fine when held: only a contract change gets here
                    if self.log is not None:
                        self.log.error("held_event_unreadable", event_id=str(held.id), error=str(exc))
                    await db.park(conn, held, f"unreadable:{key}", self.clock.now())  # kept, visible
                    continue
                EVENTS_RELEASED.labels(type=held.type).inc()
                await self(tx, held, held_event)  # may be held again, for its next cause

    async def apply(self, tx: Any, envelope: Envelope, event: EventData) -> None:
        conn = tx.connection
        now = self.clock.now()
        if isinstance(event, PersonErased):
            await forget_person(conn, event.person_id)
            return
        await facts.learn(conn, envelope, event, now)
        await causes.remember(conn, envelope, event)
        await retention.plan(conn, event, envelope.academie, self.retention_policy, now)
        if isinstance(event, ReferentDesignated):
            await refresh_recipients(conn, event.partnership_id, event.school_year)
        plans, extra = [], []
        for trigger in await facts.triggers_of(conn, envelope, event):
            trigger = await _with_satisfied_facts(conn, trigger)
            rules = rules_for(trigger.academie, trigger.dispositif, await db.rule_overrides(conn, trigger.academie))
            result = plan(trigger, rules, now, await directory_for_trigger(conn, trigger), known_at=envelope.occurred_at)
            plans.append(result)
            _count_lateness(result, now)
            if "partnership_ended" in trigger.kinds and trigger.partnership_id:
                # A decision is news about what ended it (a renewal declined ends the partnership):
                # only the rules that say so cancel it.
                extra += [(row.reminder_id, "partnership_ended")
                          for row in await db.pending_timers_of_partnership(conn, trigger.partnership_id)
                          if row.kind != "decision"]
            if self.log is not None and result.skipped:
                self.log.info("reminders_skipped", event_type=envelope.type, skipped=[list(s) for s in result.skipped])
        if plans:
            seen = {s.reminder_id for p in plans for s in p.schedule}
            extra = [(rid, why) for rid, why in dict(extra).items() if rid not in seen]
            await apply_plans(tx, plans, now=now, correlation_id=envelope.correlation_id,
                              causation_id=envelope.id, caused_by=str(envelope.id), extra_cancels=extra)


async def _with_satisfied_facts(conn: Any, trigger: Trigger) -> Trigger:
    found: set[str] = set()
    if trigger.partnership_id:
        found |= await causes.satisfied_facts(conn, trigger.partnership_id, trigger.school_year, trigger.kinds)
    if trigger.candidature_id and await db.is_settled(conn, causes.candidature_settled_key(trigger.candidature_id)):
        found.add("candidature_submitted")
    return replace(trigger, satisfied=frozenset(found)) if found else trigger


def _count_lateness(result: Any, now: Any) -> None:
    for planned in result.schedule:
        if planned.missed is not None:
            REMINDERS_MISSED.labels(rule=planned.rule, reason=planned.missed).inc()
        elif planned.due_at <= now and planned.kind != "decision":  # a decision goes out at once
            REMINDERS_LATE.labels(rule=planned.rule).inc()
