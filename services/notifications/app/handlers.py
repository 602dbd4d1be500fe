"""Consumer handlers: an event of candidatures or programmes → facts learnt → triggers → plans
carried out, all in the consumer's transaction (with the kit's inbox row: a redelivered event
plans nothing twice)."""

from __future__ import annotations

from typing import Any

from jumelage_contracts import Envelope, EventData
from jumelage_contracts.programmes import ReferentDesignated

from ..adapters import db
from ..domain.planning import plan
from ..domain.rules import rules_for
from . import facts
from .reminders import apply_plans, directory_for_trigger, refresh_recipients


class EventHandler:
    """``async def (tx, envelope, event)`` as the kit's consumer expects, with the clock bound."""

    def __init__(self, clock: Any, log: Any = None) -> None:
        self.clock = clock
        self.log = log

    async def __call__(self, tx: Any, envelope: Envelope, event: EventData) -> None:
        conn = tx.connection
        now = self.clock.now()
        await facts.learn(conn, envelope, event, now)
        if isinstance(event, ReferentDesignated):
            await refresh_recipients(conn, event.partnership_id, event.school_year)
        plans, extra = [], []
        for trigger in await facts.triggers_of(conn, envelope, event):
            rules = rules_for(trigger.academie, trigger.dispositif, await db.rule_overrides(conn, trigger.academie))
            result = plan(trigger, rules, now, await directory_for_trigger(conn, trigger))
            plans.append(result)
            if "partnership_ended" in trigger.kinds and trigger.partnership_id:
                extra += [(row.reminder_id, "partnership_ended")
                          for row in await db.pending_timers_of_partnership(conn, trigger.partnership_id)]
            if self.log is not None and result.skipped:
                self.log.info("reminders_skipped", event_type=envelope.type, skipped=[list(s) for s in result.skipped])
        if plans:
            seen = {s.reminder_id for p in plans for s in p.schedule}
            extra = [(rid, why) for rid, why in dict(extra).items() if rid not in seen]
            await apply_plans(tx, plans, now=now, correlation_id=envelope.correlation_id,
                              causation_id=envelope.id, caused_by=str(envelope.id), extra_cancels=extra)
