"""On PostgreSQL: the same rules, and two scheduler replicas never send the same reminder."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone

from notifications.adapters.mail import SmtpMailer
from notifications.app.scheduler import Scheduler
from tests.integration.notifications.notif_events import example, play_attribution

UTC = timezone.utc


class SlowMailer(SmtpMailer):
    """Holds its batch a moment so the two replicas' transactions overlap."""

    async def send_many(self, mails, now):
        await asyncio.sleep(0.05)
        return await super().send_many(mails, now)


async def plan_actions(h, count: int) -> None:
    await play_attribution(h)
    h.clock.set(datetime(2025, 9, 1, tzinfo=UTC))
    base = datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
    for i in range(count):
        await h.play(example("ActionScheduled", action_id=f"act-{i:04d}", title=f"Atelier {i}",
                             starts_at=(base + timedelta(minutes=i)).isoformat()))


async def test_two_scheduler_replicas_share_the_due_reminders_and_never_send_one_twice(pg_harness, smtp) -> None:
    h = pg_harness
    await plan_actions(h, 60)  # 120 action reminders
    h.clock.set(datetime(2025, 10, 1, 6, 0, tzinfo=UTC))  # every J-7 and J-1 due, no action started yet
    replicas = [Scheduler(h.store, h.clock, SlowMailer("127.0.0.1", smtp.port, "ne-pas-repondre@jumelage.example.fr"),
                          batch_size=10) for _ in range(2)]
    fired = await asyncio.gather(*(r.tick() for r in replicas))
    ids = Counter(m["Message-ID"] for m in smtp.mailbox.messages)
    total = len([t for t in await h.timers() if t.rule.startswith("action_")])
    assert total == 120
    assert sum(fired) >= total and all(n > 0 for n in fired), fired  # both replicas worked
    assert max(ids.values()) == 1
    assert len(await h.events("ReminderSent")) == len(ids)
    assert {t.status for t in await h.timers() if t.rule.startswith("action_")} == {"sent"}


async def test_the_rules_hold_on_postgresql_too(pg_harness) -> None:
    h = pg_harness
    await plan_actions(h, 1)
    await h.play(example("ActionRescheduled", action_id="act-0000"))
    await h.move_to(datetime(2025, 11, 25, tzinfo=UTC))
    subjects = [s for s in h.mailbox.subjects() if "Atelier 0" in s]
    assert subjects == ["Rappel : Atelier 0 dans 7 jours", "Rappel : Atelier 0 demain"]
    assert "mardi 25 novembre 2025" in h.mailbox.body(h.mailbox.messages[-1])
