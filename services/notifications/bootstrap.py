"""Builds the notifications service: runtime (store, NATS, relay, consumers), scheduler, mailer,
HTTP app. The only place that knows the concrete classes; every part can be passed in by tests."""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from eventkit.clock import Clock, ManualClock
from eventkit.logging import get_logger
from eventkit.runtime import ServiceRuntime
from eventkit.settings import ServiceSettings

from .adapters.db import MIGRATIONS_DIR
from .adapters.mail import SmtpMailer
from .app.facts import CANDIDATURES_TYPES, PROGRAMMES_TYPES
from .app.handlers import EventHandler
from .app import retention
from .app.scheduler import Scheduler
from .domain.retention import RetentionPolicy


@dataclass
class MailSettings:
    host: str = "127.0.0.1"
    port: int = 1025
    sender: str = "ne-pas-repondre@jumelage.example.fr"
    username: str | None = None
    password: str | None = None
    domain: str = "notifications.jumelage.local"
    portal_url: str = "http://127.0.0.1:8101"
    # the programmes service's public address: e-mails and calendar entries link to its partnership page
    programmes_url: str = "http://127.0.0.1:8102"
    scheduler_interval_s: float = 1.0
    batch_size: int = 50
    claim_seconds: float = 600.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "MailSettings":
        env = dict(os.environ if env is None else env)

        def pick(name: str, default: str | None) -> str | None:
            return env.get("NOTIFICATIONS_" + name) or env.get(name) or default

        return cls(host=pick("SMTP_HOST", "127.0.0.1") or "127.0.0.1", port=int(pick("SMTP_PORT", "1025") or 1025),
                   sender=pick("SMTP_FROM", cls.sender) or cls.sender, username=pick("SMTP_USERNAME", None),
                   password=pick("SMTP_PASSWORD", None), domain=pick("MAIL_DOMAIN", cls.domain) or cls.domain,
                   portal_url=pick("CANDIDATURES_PUBLIC_URL", None) or pick("PORTAL_URL", cls.portal_url) or cls.portal_url,
                   programmes_url=pick("PROGRAMMES_PUBLIC_URL", cls.programmes_url) or cls.programmes_url,
                   scheduler_interval_s=float(pick("SCHEDULER_INTERVAL", "1.0") or 1.0),
                   batch_size=int(pick("SCHEDULER_BATCH", "50") or 50),
                   claim_seconds=float(pick("SCHEDULER_CLAIM_SECONDS", "600") or 600))


@dataclass
class NotificationsService:
    settings: ServiceSettings
    runtime: ServiceRuntime
    scheduler: Scheduler
    mail: MailSettings
    scheduler_enabled: bool = True
    retention_policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    _task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def clock(self) -> Clock:
        return self.runtime.clock  # type: ignore[return-value]

    @property
    def store(self) -> Any:
        return self.runtime.store

    @property
    def manual_clock(self) -> ManualClock | None:
        return self.clock if isinstance(self.clock, ManualClock) else None

    async def start(self) -> None:
        await self.runtime.start()
        self.scheduler.store = self.runtime.store
        moved = await retention.apply_policy(self.runtime.store, self.retention_policy, self.clock.now())
        if moved:
            get_logger("notifications").info("retention_timers_moved", moved=moved)
        if self.scheduler_enabled:
            self._task = asyncio.create_task(self.scheduler.run(self.mail.scheduler_interval_s), name="scheduler")

    async def stop(self) -> None:
        self.scheduler.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.runtime.stop()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI):
        await self.start()
        try:
            yield
        finally:
            await self.stop()


def build(settings: ServiceSettings | None = None, *, clock: Clock | None = None, store: Any = None,
          mailer: Any = None, mail: MailSettings | None = None, scheduler_enabled: bool = True,
          retention_policy: RetentionPolicy | None = None) -> tuple[FastAPI, NotificationsService]:
    settings = settings or ServiceSettings.from_env("notifications")
    mail = mail or MailSettings.from_env()
    # RETENTION_YEARS_<DISPOSITIF>: read and checked now, so a bad value stops the start
    retention_policy = retention_policy or RetentionPolicy.from_env(os.environ)
    runtime = ServiceRuntime(settings, clock=clock, migrations=[MIGRATIONS_DIR], store=store)
    log = get_logger("notifications")
    handler = EventHandler(runtime.clock, log=log, retention_policy=retention_policy)
    runtime.add_consumer("notifications-from-candidatures", source="candidatures", handler=handler,
                         types=CANDIDATURES_TYPES)
    runtime.add_consumer("notifications-from-programmes", source="programmes", handler=handler,
                         types=PROGRAMMES_TYPES)
    mailer = mailer or SmtpMailer(mail.host, mail.port, mail.sender, username=mail.username, password=mail.password)
    scheduler = Scheduler(store, runtime.clock, mailer, public_url=settings.public_url, portal_url=mail.portal_url,
                          programmes_url=mail.programmes_url,
                          mail_domain=mail.domain, batch_size=mail.batch_size,
                          claim_seconds=mail.claim_seconds, after_commit=runtime.wake_relay, log=log)
    service = NotificationsService(settings=settings, runtime=runtime, scheduler=scheduler, mail=mail,
                                   scheduler_enabled=scheduler_enabled, retention_policy=retention_policy)
    app = FastAPI(description="Reminders planned from events, durable timers, e-mail, iCalendar feeds.",
                  lifespan=service.lifespan)
    runtime.install(app)
    app.state.notifications = service
    from .api.routes import router

    app.include_router(router)
    return app, service
