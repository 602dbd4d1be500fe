"""A consumer refuses an event whose subject names another service than its envelope's ``source``
— real NATS, real PostgreSQL.

The bus permissions let each service publish only under ``<root>.<service>.>``; the envelope's
``source`` is text the publisher writes. An event on candidatures' subject claiming to come from
programmes is a forgery (or a bug): dead-lettered at once with the reason, and the consumer goes on."""

from __future__ import annotations

import asyncio

import pytest

from eventkit.bus import list_dead_letters
from jumelage_contracts.subjects import event_subject
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


async def test_an_event_whose_source_is_not_its_subjects_service_is_dead_lettered_and_the_next_applied(
        request, nats_url, subject_root):
    forged = campaign_event(1).model_copy(update={"source": "programmes"})
    good = campaign_event(2)
    async with open_store("postgres", request) as store, connected(nats_url, subject_root) as nats:
        # published on candidatures' subject while the envelope says programmes
        headers, body = forged.to_nats()
        subject = event_subject(forged, subject_root).replace(".programmes.", ".candidatures.", 1)
        await nats.js.publish(subject, body, headers=headers)
        await publish_envelopes(nats, subject_root, [good])
        projection = Projection()
        consumer = make_consumer(store, nats, subject_root, projection)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 1, timeout=15,
                             what="the good event applied after the forged one")
            await asyncio.sleep(0.3)  # deliberate: a second dead letter or application would show now
        assert consumer.counts["dead_lettered"] == 1
        assert projection.calls == {"campaign-2": 1}  # the forged event never reached the handler
        assert await Projection.campaigns(store) == ["campaign-2"]
        [letter] = await list_dead_letters(nats, subject_root)
        assert letter.error_type == "SourceMismatch"
        assert "programmes" in letter.error and "candidatures" in letter.error
        assert letter.original_subject == subject
