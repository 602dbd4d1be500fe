"""Logs never carry personal fields (issue 16), on the path that logs a payload's content: a
poison event naming a person (its reviewer, a comment with an e-mail and a phone) reaches a real
consumer over real NATS JetStream, fails validation and is dead-lettered. The kit's real logging
configuration writes what operators need (the consumer, the type, the error) and none of the
person's data."""

from __future__ import annotations

import io
import sys
import uuid
from datetime import datetime, timezone

import pytest
import structlog

from eventkit.bus import list_dead_letters
from eventkit.logging import configure_logging
from jumelage_contracts import Envelope
from tests.integration.eventkit.bus_support import (
    Projection,
    campaign_event,
    connected,
    eventually,
    make_consumer,
    open_store,
    publish_envelopes,
    running,
)

pytestmark = pytest.mark.integration

NAME, EMAIL, PHONE = "Jeanne Dupont-Marchal", "jeanne.dupont@ac-paris.fr", "06 12 34 56 78"


def a_review_naming_a_person() -> Envelope:
    """A CandidatureReviewed that cannot be read: its ``reviewer`` is too long (pydantic's message
    repeats the start and end of it) and its ``avis`` is not one of the vocabulary."""
    return Envelope(type="CandidatureReviewed", source="candidatures", stream_id="candidature-c1",
                    occurred_at=datetime.now(timezone.utc), correlation_id=uuid.uuid4(), academie="paris",
                    data={"candidature_id": "c1", "campaign_id": "camp-paris", "reviewer": f"{NAME} <{EMAIL}> {PHONE} " * 8, "avis": "splendid",
                          "comment": f"Appeler {NAME} au {PHONE} ou {EMAIL}"})


async def test_a_poison_event_naming_a_person_is_dead_lettered_without_the_person_in_the_logs(
        request, nats_url, subject_root, monkeypatch):
    saved = structlog.get_config()
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    configure_logging("reporting", "INFO", json=True)
    try:
        async with open_store("sqlite", request) as store, connected(nats_url, subject_root) as nats:
            await publish_envelopes(nats, subject_root, [a_review_naming_a_person(), campaign_event(1)])
            consumer = make_consumer(store, nats, subject_root, Projection())
            async with running(consumer):
                await eventually(lambda: consumer.counts.get("dead_lettered") == 1
                                 and consumer.counts.get("applied") == 1, what="one dead letter, one applied")
            [letter] = await list_dead_letters(nats, subject_root)
    finally:
        structlog.configure(**saved)
    assert letter.error_type == "ValidationError"
    out = stdout.getvalue()
    [line] = [line for line in out.splitlines() if "consumer_dead_lettered" in line]
    assert "CandidatureReviewed" in line and "reviewer" in line and "avis" in line  # what failed, still
    leaked = [p for p in (NAME, "Dupont-Marchal", EMAIL, PHONE, "0612345678") if p in out]
    assert leaked == [], f"personal data in the logs: {leaked}\n{out}"
