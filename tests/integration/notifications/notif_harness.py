"""Test harness for notifications: a real store (SQLite or PostgreSQL), a real SMTP server
(aiosmtpd on a free port) whose mailbox the tests read, a manual clock, and events played
through the same handler the bus consumer runs (inbox row included)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from eventkit.clock import ManualClock
from eventkit.sql import open_store
from jumelage_contracts import EventData, to_envelope
from notifications.adapters.db import MIGRATIONS_DIR
from notifications.adapters.mail import SmtpMailer
from notifications.app.facts import CANDIDATURES_TYPES
from notifications.app.handlers import EventHandler
from notifications.app.scheduler import Scheduler
from tests.infra.processes import free_port

UTC = timezone.utc


class Mailbox:
    """aiosmtpd handler: keeps every message it accepted; can be told to refuse."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.raw: list[bytes] = []  # the bytes as received, to check the encodings on the wire
        self.refuse_with: str | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refuse_with:
            return self.refuse_with
        self.raw.append(envelope.original_content or envelope.content)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [self.subject(m) for m in self.messages]

    @staticmethod
    def subject(message: EmailMessage) -> str:
        # A long subject is folded on the wire; compare it unfolded.
        return " ".join(str(message["Subject"]).split())

    def to(self, email: str) -> list[EmailMessage]:
        return [m for m, (_, rcpts) in zip(self.messages, self.envelopes) if email in rcpts]

    def body(self, message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    def clear(self) -> None:
        self.messages.clear()
        self.envelopes.clear()
        self.raw.clear()


class SmtpServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class Harness:
    store: Any
    clock: ManualClock
    scheduler: Scheduler
    handler: EventHandler
    mailbox: Mailbox
    consumer: str = "notifications-test"
    played: list[Any] = field(default_factory=list)

    async def play(self, event: EventData, *, academie: str | None = None, stream_id: str | None = None,
                   event_id: uuid.UUID | None = None) -> Any:
        envelope = to_envelope(event, stream_id=stream_id or f"test-{uuid.uuid4().hex[:8]}",
                               occurred_at=self.clock.now(), correlation_id=uuid.uuid4(),
                               academie=academie or getattr(event, "academie", None), event_id=event_id)
        return await self.deliver(envelope, event)

    async def deliver(self, envelope, event) -> Any:
        """What the kit's consumer does with one message: inbox row + handler in one transaction."""
        async with self.store.transaction() as tx:
            if await tx.mark_processed(self.consumer, envelope.id):
                await self.handler(tx, envelope, event)
        self.played.append(envelope)
        return envelope

    async def move_to(self, when: datetime) -> int:
        """Time passes up to ``when`` with the scheduler running: each reminder fires at its time."""
        if when < self.clock.now():
            self.clock.set(when)
            return await self.scheduler.tick()
        return await self.scheduler.run_until(when)

    async def timers(self, **where: Any) -> list[Any]:
        from sqlalchemy import select

        from notifications.adapters.db import timers

        query = select(timers).order_by(timers.c.due_at, timers.c.rule)
        for key, value in where.items():
            query = query.where(getattr(timers.c, key) == value)
        async with self.store.engine.connect() as conn:
            return list((await conn.execute(query)).all())

    async def events(self, type_: str | None = None) -> list[Any]:
        found = await self.store.read_all(0, 100000)
        return [e for e in found if e.source == "notifications" and (type_ is None or e.type == type_)]


async def switch_off_decisions(store: Any) -> None:
    """Every académie switches the decision rules off (an override row each, as ``PUT
    /admin/rules`` writes): the tests of the reminders' timing count their own mails only; the
    decisions are tested with them on (``test_notifications_decisions.py``)."""
    from jumelage_contracts.reference import Academie
    from notifications.adapters import db
    from notifications.domain.rules import DEFAULT_RULES

    async with store.transaction() as tx:
        for academie in Academie:
            for rule in DEFAULT_RULES:
                if rule.kind == "decision":
                    await db.upsert(tx.connection, db.overrides, {
                        "academie": academie.value, "dispositif": "*", "rule": rule.name, "enabled": False,
                        "offset_days": None, "at_time": None, "fixed_date": None}, ["academie", "dispositif", "rule"])


async def make_harness(url: str, smtp: SmtpServer, start: datetime, *, decisions: bool = False,
                       **scheduler_options: Any) -> Harness:
    store = await open_store(url, extra_migrations=[MIGRATIONS_DIR])
    if not decisions:
        await switch_off_decisions(store)
    clock = ManualClock(start)
    mailer = SmtpMailer("127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr", timeout=5)
    scheduler = Scheduler(store, clock, mailer, public_url="http://notif.test", **scheduler_options)
    return Harness(store=store, clock=clock, scheduler=scheduler, handler=EventHandler(clock), mailbox=smtp.mailbox)


__all__ = ["CANDIDATURES_TYPES", "Harness", "SmtpServer", "make_harness", "UTC"]
