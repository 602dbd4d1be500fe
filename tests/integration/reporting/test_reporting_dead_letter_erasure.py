"""Issue 16's leftover: reporting's own consumer (its runtime as built for production, batch path
and all) dead-letters a malformed message with plaintext personal values (a producer's bug) with
those values sealed under its own keys, never in clear — as the kit's test proves for a bare
consumer. Real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from jumelage_contracts import Envelope
from jumelage_contracts.subjects import event_subject
from eventkit.bus import NatsConnection, list_dead_letters, provision_now
from eventkit.settings import ServiceSettings
from reporting.bootstrap import SOURCES, build_runtime
from tests.waiting import eventually

pytestmark = pytest.mark.integration
NAME, EMAIL, PHONE = "Apolline Reporting-Testée", "apolline.rt@ac-lille.fr", "07 98 76 54 32"


async def test_reporting_dead_letters_a_malformed_designation_without_its_values_in_clear(
        postgres_url, nats_url, subject_root) -> None:
    settings = ServiceSettings.from_env("reporting", env={}, database_url=postgres_url, nats_url=nats_url,
                                        subject_root=subject_root)
    runtime = build_runtime(settings)
    await runtime.start()
    nats = NatsConnection(nats_url, name="test-publisher")
    await nats.start()
    try:
        assert await nats.wait_connected(10), "NATS not reachable"
        await provision_now(nats, subject_root, SOURCES)
        bad = Envelope(type="ReferentDesignated", source="programmes", stream_id="partnership-p1",
                       occurred_at=datetime.now(timezone.utc), correlation_id=uuid.uuid4(), academie="lille",
                       data={"partnership_id": "p1", "school_year": "2026-2027", "year_index": 1,
                             "referent_id": "ref-apolline", "side": "school", "role": "teacher",
                             "name": NAME, "email": EMAIL, "phone": PHONE * 5})  # too long for the schema
        headers, body = bad.to_nats()
        await nats.js.publish(event_subject(bad, subject_root), body, headers=headers)

        async def dead_lettered() -> bool:
            return bool(await list_dead_letters(nats, subject_root))

        await eventually(dead_lettered, timeout=30, what="reporting's dead letter")
        [letter] = await list_dead_letters(nats, subject_root)
    finally:
        await nats.close()
        await runtime.stop()
    blob = letter.data + repr(letter.original_headers).encode() + letter.error.encode()
    assert [v for v in (NAME, EMAIL, PHONE) if v.encode() in blob or json.dumps(v).encode() in blob] == [], blob
    assert "phone" in letter.error
    kept = json.loads(letter.data)
    assert kept["referent_id"] == "ref-apolline"
    assert all("$sealed" in kept[field] for field in ("name", "email", "phone"))  # kept, as ciphertext
