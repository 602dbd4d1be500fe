"""Every decision kind over the real bus: candidatures' and programmes' events stored, relayed
through JetStream to the notifications service (its runtime, consumers and store on PostgreSQL),
told over a real SMTP server; republished beyond JetStream's duplicate window and after a
restart of the service, nothing is told twice."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from eventkit.bus import NatsConnection, OutboxRelay, provision
from eventkit.clock import ManualClock
from eventkit.settings import ServiceSettings
from eventkit.sql import open_store
from jumelage_contracts import to_envelope
from jumelage_contracts.subjects import stream_name
from notifications.adapters.db import list_timers
from notifications.bootstrap import MailSettings, build
from tests.integration.notifications.notif_events import PID, example
from tests.integration.notifications.notif_harness import SmtpServer
from tests.waiting import eventually

UTC = timezone.utc
JULY = datetime(2025, 7, 4, 10, 0, tzinfo=UTC)
PARTNER_REF = "y.lebrun@carnavalet.example.fr"
SCHOOL_MAILBOX = "ce.0750655e@ac-paris.fr"


def candidatures_events():
    campaign = "camp-paris-culture-2025-2026"
    return [
        (f"campaign-{campaign}", example("CampaignOpened")),
        ("candidature-cand-a", example("CandidatureSubmitted", candidature_id="cand-a")),
        ("candidature-cand-a", example("CandidatureReturnedForCorrection", candidature_id="cand-a")),
        ("candidature-cand-b", example("CandidatureSubmitted", candidature_id="cand-b")),
        ("candidature-cand-b", example("CandidatureRejected", candidature_id="cand-b")),
        (f"candidature-{PID}", example("PartnershipAttributed")),
        (f"candidature-{PID}", example("RenewalGranted")),
        ("candidature-p-two", example("PartnershipAttributed", partnership_id="p-two", candidature_id="cand-c")),
        ("candidature-p-two", example("RenewalDeclined", partnership_id="p-two", candidature_id="cand-c")),
    ]


async def append_all(store, events, clock) -> None:
    versions: dict[str, int] = {}
    for stream, event in events:
        envelope = to_envelope(event, stream_id=stream, occurred_at=clock.now(), correlation_id=uuid.uuid4(),
                               academie="paris")
        versions[stream] = (await store.append(stream, [envelope], versions.get(stream, 0))).stream_version


async def test_each_decision_crosses_the_bus_and_is_told_once_through_republish_and_restart(
        postgres_url, nats_url, subject_root, tmp_path) -> None:
    smtp = SmtpServer().start()
    candidatures = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'candidatures.db'}")
    programmes = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'programmes.db'}")
    nats = NatsConnection(nats_url, name="test-decisions")
    await nats.start()
    await provision(nats, subject_root)
    relays = [OutboxRelay(candidatures, nats, source="candidatures", subject_root=subject_root),
              OutboxRelay(programmes, nats, source="programmes", subject_root=subject_root)]
    settings = ServiceSettings.from_env("notifications", env={}, database_url=postgres_url, nats_url=nats_url,
                                        subject_root=subject_root, clock="manual", public_url="http://notif.test")
    clock = ManualClock(JULY)

    def start_service():
        return build(settings, clock=clock, mail=MailSettings(port=smtp.port), scheduler_enabled=False)[1]

    service = start_service()
    await service.start()
    try:
        await append_all(candidatures, candidatures_events(), clock)
        partner = example("ReferentDesignated", referent_id="ref-yannick-lebrun", side="partner",
                          role="coordinator", name="Yannick Lebrun", email=PARTNER_REF, phone=None)
        await append_all(programmes, [(f"partnership-{PID}", partner)], clock)
        assert await relays[0].publish_once() == 9 and await relays[1].publish_once() == 1

        async def decisions_planned():
            async with service.store.engine.connect() as conn:
                rows = await list_timers(conn)
            found = sorted(r.rule for r in rows if r.kind == "decision")
            return found if len(found) == 7 else None

        assert await eventually(decisions_planned) == sorted([
            "decision_returned_for_correction", "decision_rejected", "decision_attributed", "decision_attributed",
            "decision_offer_chosen", "decision_renewal_granted", "decision_renewal_declined"])
        assert await service.scheduler.tick() == 7
        told = sorted((smtp.mailbox.subject(m), tuple(sorted(rcpts)))
                      for m, (_, rcpts) in zip(smtp.mailbox.messages, smtp.mailbox.envelopes))
        school = (SCHOOL_MAILBOX,)
        title = example("CampaignOpened").title
        partner_name = "Musee Carnavalet - Histoire de Paris"
        assert told == sorted([
            (f"Candidature à corriger : {title}", school),
            (f"Candidature non retenue : {title}", school),
            (f"Jumelage attribué : Ecole elementaire Belleville avec {partner_name} (2025-2026)", school),
            (f"Jumelage attribué : Ecole elementaire Belleville avec {partner_name} (2025-2026)", school),
            ("Votre offre est retenue : jumelage avec Ecole elementaire Belleville (2025-2026)", (PARTNER_REF,)),
            (f"Renouvellement accordé : jumelage Ecole elementaire Belleville / {partner_name} (2026-2027)",
             tuple(sorted([SCHOOL_MAILBOX, PARTNER_REF]))),
            (f"Renouvellement refusé : jumelage Ecole elementaire Belleville / {partner_name} (2026-2027)", school),
        ])

        # Everything again, beyond the duplicate window: the consumers' inbox recognises it.
        for source in ("candidatures", "programmes"):
            config = (await nats.js.stream_info(stream_name(source, subject_root))).config
            config.duplicate_window = 0.5
            await nats.js.update_stream(config)

        async def copies_stored() -> bool:
            for relay in relays:
                await relay.republish(0)
            info = [await nats.js.stream_info(stream_name(s, subject_root)) for s in ("candidatures", "programmes")]
            return info[0].state.last_seq >= 18 and info[1].state.last_seq >= 2

        await eventually(copies_stored, interval=0.2, what="the republished copies to be stored")

        async def copies_consumed() -> bool:
            consumers = [c for s in ("candidatures", "programmes")
                         for c in await nats.js.consumers_info(stream_name(s, subject_root))]
            return all(c.ack_floor.stream_seq >= c.delivered.stream_seq and c.num_pending == 0 for c in consumers)

        await eventually(copies_consumed, what="every consumer to ack the copies")
        await service.scheduler.tick()
        await service.stop()
        service = start_service()  # a restart: same database, same durable consumers
        await service.start()
        assert await service.scheduler.tick() == 0
        assert len(smtp.mailbox.messages) == 7
    finally:
        await service.stop()
        await nats.close()
        await candidatures.close()
        await programmes.close()
        smtp.stop()
