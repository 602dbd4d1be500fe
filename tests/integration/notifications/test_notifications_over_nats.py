"""The thin slice over the real bus: a CampaignOpened stored by a candidatures store travels
through its outbox relay and JetStream to the notifications service (real runtime: consumer,
store on PostgreSQL, relay); redelivery plans nothing twice; the reminder events go out on the
notifications stream."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from eventkit import metrics
from eventkit.bus import NatsConnection, OutboxRelay, provision
from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import open_store
from jumelage_contracts import to_envelope
from jumelage_contracts.subjects import stream_name
from notifications.bootstrap import MailSettings, build
from tests.integration.notifications.notif_events import example
from tests.integration.notifications.notif_harness import SmtpServer
from tests.waiting import eventually

UTC = timezone.utc


def duplicates_skipped(consumers: list[str]) -> float:
    return sum(metrics.REGISTRY.get_sample_value("jumelage_consumer_messages_total",
                                                 {"consumer": name, "outcome": "duplicate"}) or 0
               for name in consumers)


async def test_a_campaign_opened_crosses_the_bus_and_its_reminder_is_sent_and_published(
        postgres_url, nats_url, subject_root, tmp_path) -> None:
    smtp = SmtpServer().start()
    candidatures = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'candidatures.db'}")
    nats = NatsConnection(nats_url, name="test-candidatures")
    await nats.start()
    await provision(nats, subject_root)
    relay = OutboxRelay(candidatures, nats, source="candidatures", subject_root=subject_root)
    settings = ServiceSettings.from_env("notifications", env={}, database_url=postgres_url, nats_url=nats_url,
                                        subject_root=subject_root, clock="manual", public_url="http://notif.test")
    clock = ManualClock(datetime(2025, 4, 1, tzinfo=UTC))
    _, service = build(settings, clock=clock, mail=MailSettings(port=smtp.port), scheduler_enabled=False)
    await service.start()
    try:
        opened = to_envelope(example("CampaignOpened"), stream_id="campaign-camp-paris-culture-2025-2026",
                             occurred_at=clock.now(), correlation_id=uuid.uuid4(), academie="paris")
        await candidatures.append(opened.stream_id, [opened], 0)
        assert await relay.publish_once() == 1

        async def timers():
            async with service.store.engine.connect() as conn:
                from notifications.adapters.db import list_timers
                return await list_timers(conn, status=["pending"])

        assert len(await eventually(timers)) == 2
        # The same event again, republished by the relay after JetStream's duplicate window (made
        # short here): inside the window the copy is dropped and no consumer ever sees it.
        source = stream_name("candidatures", subject_root)
        config = (await nats.js.stream_info(source)).config
        config.duplicate_window = 0.5
        await nats.js.update_stream(config)
        names = [c.name for c in await nats.js.consumers_info(source)]
        skipped_before = duplicates_skipped(names)

        async def copy_stored() -> bool:
            await relay.republish(0)
            return (await nats.js.stream_info(source)).state.last_seq >= 2

        await eventually(copy_stored, interval=0.2, what="a republish beyond the duplicate window to be stored")

        async def copy_consumed() -> bool:
            return all(c.ack_floor.stream_seq >= 2 for c in await nats.js.consumers_info(source))

        await eventually(copy_consumed, what="every consumer of candidatures to ack the copy")
        assert duplicates_skipped(names) > skipped_before, "no consumer recognised the copy as a duplicate"
        assert len(await timers()) == 2

        clock.set(datetime(2025, 5, 31, tzinfo=UTC))
        assert await service.scheduler.tick() == 2
        assert len(smtp.mailbox.messages) == 2
        service.runtime.wake_relay()

        async def published():
            info = await nats.js.stream_info(stream_name("notifications", subject_root))
            return info.state.messages >= 4  # 2 ReminderScheduled + 2 ReminderSent
        assert await eventually(published)
    finally:
        await service.stop()
        await nats.close()
        await candidatures.close()
        smtp.stop()
