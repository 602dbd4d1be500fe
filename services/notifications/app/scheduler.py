"""The scheduler: fires the durable timers that are due on the injected clock.

One batch = claim → send → record, and no transaction is open while the mail server talks:

1. **claim** (a short write transaction): lock up to ``batch_size`` due timers (PostgreSQL
   ``FOR UPDATE SKIP LOCKED``: two replicas never take the same row; SQLite: ``BEGIN IMMEDIATE``,
   one writer) and push their ``next_attempt_at`` to ``now + claim_seconds`` — the claim's lease —
   then commit. Nobody else sees them due until the lease ends. The facts the messages need are
   read in the same transaction.
2. **send** the batch over one SMTP session, outside any transaction (the SQLite write lock and
   the PostgreSQL row locks are free meanwhile: events keep being consumed).
3. **record** (a second short transaction): lock the batch's rows again, decide on their current
   state (a reminder cancelled while its mail was on the wire gets ``ReminderSent`` after its
   ``ReminderCancelled``: the mail went out, ops and reporting count it as received; one recorded
   by another replica is not recorded twice), append ``ReminderSent`` / ``ReminderFailed`` to all the
   batch's streams with one ``append_many`` (one statement, not one round trip per stream) and
   update the timer rows in one executemany; the kit's relay publishes the events.

At least once: if the process dies after the mail server accepted a message and before the
record commits, the timer is still pending; when the lease ends it is due again and the message
goes out a second time with the same Message-ID (worst case: one batch delivered twice, after
``claim_seconds``). A restart fires everything that fell due while the service was down, once —
except what is past its grace (``late_until``: a J-1 for a visit already made), which is recorded
as missed (``ReminderMissed``) instead of sent.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy.exc import DBAPIError

from jumelage_contracts.notifications import Recipient
from jumelage_contracts.personal import is_erased

from eventkit import metrics
from eventkit.store import ConcurrencyError

from ..adapters import db
from ..adapters.mail import DeliveryOutcome, OutgoingMail, Renderer, message_id_for
from ..domain.planning import recipients_for, timezone_of
from .links import campaign_page_url, partnership_page
from ..domain.referents import referents_carry_over_until_the_side_names_new_ones
from ..domain.reminder import RecordDelivery, RecordFailure, RecordMissed
from .facts import calendar_dates, item_uid
from . import retention
from .handlers import REMINDERS_MISSED
from .reminders import academie_name, directory_from, record_many


REMINDERS_TOTAL = metrics.counter("jumelage_reminders_total",
                                  "Reminders settled by the scheduler: sent, failed (an attempt refused) or missed "
                                  "(past its grace)", ["outcome"])
REMINDERS_DUE = metrics.gauge("jumelage_reminders_due",
                              "Reminders due now and not yet sent (pending, next attempt in the past)")
EVENTS_HELD_NOW = metrics.gauge("jumelage_notifications_events_held_now",
                                "Events held until their cause arrives (an ActionCancelled before its "
                                "ActionScheduled); one that stays means a cause that never came")


class PastGrace:
    """Marker for a claimed reminder whose grace is over: recorded as missed, not sent."""

    def __init__(self, late_until: datetime) -> None:
        self.late_until = late_until


class Scheduler:
    def __init__(self, store: Any, clock: Any, mailer: Any, *, renderer: Renderer | None = None,
                 public_url: str = "http://127.0.0.1:8103", portal_url: str = "http://127.0.0.1:8101",
                 programmes_url: str = "http://127.0.0.1:8102",
                 mail_domain: str = "notifications.jumelage.local", batch_size: int = 50,
                 claim_seconds: float = 600.0, after_commit: Callable[[], None] | None = None, log: Any = None) -> None:
        self.store, self.clock, self.mailer = store, clock, mailer
        self.renderer = renderer or Renderer()
        self.public_url, self.portal_url, self.mail_domain = public_url.rstrip("/"), portal_url.rstrip("/"), mail_domain
        self.programmes_url = programmes_url
        self.batch_size = batch_size
        # Longer than the slowest batch can take to send (one SMTP session, ``batch_size``
        # messages): a replica must not take over a batch still on the wire.
        self.claim = timedelta(seconds=claim_seconds)
        self.after_commit = after_commit
        self.log = log
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    # -- firing --------------------------------------------------------------------------------------

    async def tick(self) -> int:
        """Fire every timer due now (batch after batch); returns how many were handled. The
        retention timers (RGPD) first: they send no mail, one short transaction per batch."""
        total = await retention.fire_all_due(self.store, self.clock.now(), self.batch_size)
        if total and self.after_commit is not None:
            self.after_commit()
        while True:
            handled = await self.fire_batch()
            total += handled
            if handled < self.batch_size:
                return total

    async def run_until(self, when: datetime) -> int:
        """Move a manual clock forward to ``when`` as a running service would live through it:
        stop at each due time on the way and fire what is due then, so a demo or a test that jumps
        a month sends each reminder at its time (rather than finding them all past their grace,
        as a service that was down would). Returns how many were handled."""
        total = 0
        while True:
            async with self.store.engine.connect() as conn:
                upcoming = min((t for t in (await db.next_due(conn), await retention.next_due(conn)) if t is not None),
                               default=None)
            if upcoming is None or upcoming > when:
                break
            if upcoming > self.clock.now():
                self.clock.set(upcoming)
            handled = await self.tick()
            total += handled
            if handled == 0:  # due but taken by another replica: it is theirs, go on
                break
        if when > self.clock.now():
            self.clock.set(when)
        return total + await self.tick()

    async def fire_batch(self) -> int:
        now = self.clock.now()
        claimed = await self._claim(now)
        if not claimed:
            return 0
        rows, facts = claimed
        composed = [PastGrace(row.late_until) if row.late_until is not None and now >= row.late_until
                    else self._compose_or_error(row, facts) for row in rows]
        mails = [m for m in composed if isinstance(m, OutgoingMail)]
        sent = iter(await self.mailer.send_many(mails, now))  # no transaction open
        outcomes = [next(sent) if isinstance(m, OutgoingMail) else DeliveryOutcome(False, str(m)) for m in composed]
        await self._record(rows, composed, outcomes, now)
        if self.after_commit is not None:
            self.after_commit()
        return len(rows)

    async def _claim(self, now: datetime) -> tuple[list[Any], dict[str, Any]] | None:
        """Take the due rows for ``claim_seconds`` and read what composing their messages needs."""
        async with self.store.transaction() as tx:
            conn = tx.connection
            rows = await db.claim_due(conn, now, self.batch_size, now + self.claim)
            if not rows:
                return None
            facts = await db.batch_facts(conn, rows)
            for row in rows:  # a partnership learnt before feeds existed: give it one now
                if row.partnership_id and row.partnership_id not in facts["tokens"]:
                    facts["tokens"][row.partnership_id] = await db.feed_token(conn, "partnership", row.partnership_id, now)
        return rows, facts

    async def _record(self, claimed: list[Any], composed: list[Any], outcomes: list[DeliveryOutcome],
                      now: datetime, attempts: int = 3) -> None:
        """Append what happened to each reminder, deciding on its state as it is NOW. A conflict
        (a trigger cancelling one of these reminders at the same moment) is retried; if the
        record still cannot commit, the lease runs out and the batch is sent again."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.store.transaction() as tx:
                    current = {r.reminder_id: r for r in await db.lock_timers(tx.connection, [r.reminder_id for r in claimed])}
                    work = [(current[row.reminder_id], _record_command(mail, outcome, now))
                            for row, mail, outcome in zip(claimed, composed, outcomes) if row.reminder_id in current]
                    await record_many(tx, work, now=now, correlation_id=uuid.uuid4())
                break
            except (ConcurrencyError, DBAPIError) as exc:
                if attempt == attempts:
                    raise
                if self.log is not None:
                    self.log.warning("reminder_record_retried", error=f"{type(exc).__name__}: {exc}", attempt=attempt)
        for row, mail, outcome in zip(claimed, composed, outcomes):
            if isinstance(mail, PastGrace):
                REMINDERS_MISSED.labels(rule=row.rule, reason="not_sent_before_its_grace").inc()
            REMINDERS_TOTAL.labels("missed" if isinstance(mail, PastGrace) else "sent" if outcome.ok else "failed").inc()
        if self.log is not None:
            for row, mail, outcome in zip(claimed, composed, outcomes):
                if not outcome.ok and not isinstance(mail, PastGrace):
                    self.log.warning("reminder_failed", reminder_id=row.reminder_id, error=outcome.error)

    def _compose_or_error(self, row: Any, facts: dict[str, Any]) -> OutgoingMail | str:
        """A message that cannot be built (a template bug, bad data) fails alone, through the
        same bounded retries, instead of blocking the whole batch forever."""
        try:
            return self.compose(row, facts)
        except Exception as exc:  # noqa: BLE001
            return f"cannot compose: {type(exc).__name__}: {exc}"

    def compose(self, row: Any, facts: dict[str, Any]) -> OutgoingMail:
        """The e-mail of one due reminder, from the batch's facts (no I/O)."""
        item = None
        if row.action_id or row.meeting_id:
            kind, ref = ("action", row.action_id) if row.action_id else ("meeting", row.meeting_id)
            item = facts["items"].get(item_uid(kind, row.partnership_id, ref))
        # An action or meeting reminder belongs to the year of its calendar item.
        year = row.school_year or (item.school_year if item is not None else None)
        partnership = None
        if row.partnership_id:
            partnership = (facts["partnerships"].get((row.partnership_id, year))
                           or facts["partnerships"].get((row.partnership_id, None)))
        campaign = facts["campaigns"].get(row.campaign_id) if row.campaign_id else None
        recipients = self._recipients(row, year, partnership, facts)
        if not recipients:  # everyone it was for has been erased: it fails, nobody is written to
            raise LookupError("no recipient left (erased)")
        label, place = row.title, row.place
        if item is not None:
            label, place = item.summary, item.place or place
        dates = calendar_dates(partnership.calendar, partnership.school_year) if partnership else {}
        link = link_label = calendar = None
        if partnership is not None:
            link, link_label = partnership_page(self.programmes_url, row.partnership_id), "Ouvrir la page du jumelage"
            if facts["tokens"].get(row.partnership_id):
                calendar = f"{self.public_url}/ical/{facts['tokens'][row.partnership_id]}.ics"
        elif row.scope == "candidature" and row.kind == "decision" and row.campaign_id:
            link, link_label = campaign_page_url(self.portal_url, row.campaign_id), "Voir vos candidatures"
        elif campaign is not None:
            link, link_label = campaign_page_url(self.portal_url, row.campaign_id), "Ouvrir la campagne"
        context = {
            "names": ", ".join(r.name for r in recipients if r.role != "school" and r.role != "academie"),
            "title": row.title, "event_at": row.event_at, "place": place, "label": label, "link": link,
            "link_label": link_label, "calendar": calendar,
            "tz": str(timezone_of(row.academie)), "uai": row.uai or "",
            "school_name": partnership.school_name if partnership else (campaign.title if campaign else ""),
            "partner_name": (partnership.partner_name or "la structure partenaire") if partnership else "",
            "has_partner": bool(partnership is not None and partnership.partner_id),
            "school_year": row.school_year or (campaign.school_year if campaign else ""),
            "campaign_title": campaign.title if campaign else "", "window_end": dates.get("work_meeting_window_end"),
            "window_start": dates.get("work_meeting_window_start"), "detail": row.detail or "",
            "academie_label": academie_name(row.academie),
        }
        if row.scope == "candidature":
            known = facts["candidatures"].get(row.scope_id)
            context["school_name"] = known.school_name if known else row.uai
        text, html = self.renderer.render(row.template, context)
        return OutgoingMail(reminder_id=row.reminder_id, dedup_key=row.dedup_key,
                            message_id=message_id_for(row.dedup_key, row.reminder_id, self.mail_domain),
                            recipients=recipients, subject=row.title, text=text, html=html)

    def _recipients(self, row: Any, year: str | None, partnership: Any, facts: dict[str, Any]) -> tuple[Recipient, ...]:
        """Who should receive it NOW (a referent named after the plan gets it, a renewed year's
        referents stay on until replaced); the planned recipients when nobody is known any more."""
        year = year or (partnership.school_year if partnership else None)
        refs = (referents_carry_over_until_the_side_names_new_ones(facts["referents"].get(row.partnership_id, []), year)
                if row.partnership_id else [])
        candidature = facts["candidatures"].get(row.scope_id) if row.scope == "candidature" else None
        applicant = partnership if partnership is not None else candidature
        known = directory_from(refs, facts["contacts"].get(row.academie, {}), academie=row.academie, uai=row.uai,
                               school_name=applicant.school_name if applicant is not None else None,
                               contact_email=applicant.contact_email if applicant is not None else None)
        current = recipients_for(tuple(row.audience), known)
        # an erased person is never written to (their planned address is a placeholder by now)
        return tuple(r for r in current or tuple(Recipient.model_validate(r) for r in row.recipients)
                     if not is_erased(r.email))

    # -- loop ------------------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def observe_due(self) -> int:
        """Publish how many reminders are due and unsent (the ops alert: a scheduler that stalls)."""
        reader = getattr(self.store, "reader", None)
        if reader is None:
            return 0
        async with reader.connect() as conn:
            due = await db.count_due(conn, self.clock.now())
            held = await db.count_parked(conn)
        REMINDERS_DUE.set(due)
        EVENTS_HELD_NOW.set(held)
        return due

    async def run(self, interval_s: float = 1.0) -> None:
        """Poll for due timers every ``interval_s`` (wall time: how often to look, not what is due)."""
        while not self._stopping.is_set():
            try:
                await self.tick()
                await self.observe_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bad batch must not stop the timers
                if self.log is not None:
                    self.log.error("scheduler_error", error=f"{type(exc).__name__}: {exc}")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()



def _record_command(mail: Any, outcome: DeliveryOutcome, now: datetime) -> Any:
    if isinstance(mail, PastGrace):
        return RecordMissed(mail.late_until, now)
    return RecordDelivery(mail.message_id, mail.recipients, now) if outcome.ok else RecordFailure(outcome.error, now)
