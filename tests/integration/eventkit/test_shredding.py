"""Crypto-shredding (issue 16, ``eventkit.shredding``) on real stores and a real NATS JetStream:
personal values are stored and published as ciphertext only, the owner and a consumer read them in
clear, and once the person is erased nobody can — while the events, their number and their other
fields stay as they were."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from eventkit.bus import list_dead_letters
from eventkit.runtime import ConsumerSpec
from eventkit.shredding import (KeyService, Keyring, SealingStore, erase_person, nats_key_fetcher, sealed_subjects,
                                 subjects_to_seal)
from eventkit.bus.consumer import Consumer
from jumelage_contracts import Envelope, parse_event
from jumelage_contracts.personal import ERASED, ERASED_EMAIL
from tests.integration.eventkit.bus_support import connected, eventually, open_store, publish_envelopes, running
from tests.integration.eventkit.store_support import a_store

pytestmark = pytest.mark.integration

NAME, EMAIL, PHONE = "Jeanne Dupont-Marchal", "jeanne.dupont@ac-paris.fr", "06 12 34 56 78"
PERSONAL = (NAME, EMAIL, PHONE)


def designation(referent_id: str = "ref-jeanne", **data) -> Envelope:
    return Envelope(type="ReferentDesignated", source="programmes", stream_id="programme-p1-2026-2027",
                    occurred_at=datetime.now(timezone.utc), correlation_id=uuid.uuid4(), academie="paris",
                    data={"partnership_id": "p1", "school_year": "2026-2027", "year_index": 1,
                          "referent_id": referent_id, "side": "school", "role": "teacher",
                          "name": NAME, "email": EMAIL, "phone": PHONE, **data})


def minutes_naming(name: str) -> Envelope:
    return Envelope(type="MeetingHeld", source="programmes", stream_id="programme-p1-2026-2027",
                    occurred_at=datetime.now(timezone.utc), correlation_id=uuid.uuid4(), academie="paris",
                    data={"partnership_id": "p1", "school_year": "2026-2027", "year_index": 1,
                          "meeting_id": "m1", "kind": "work", "held_at": "2026-09-20T08:00:00Z",
                          "attendees": [name, "Paul Durand"], "minutes": f"{name} présente le projet"})


async def raw_bytes(store) -> bytes:
    """Everything the store's database holds, as text (a byte search stands for a dump)."""
    inner = getattr(store, "inner", store)
    if getattr(inner, "engine", None) is None:
        return json.dumps([e.data for e in await inner.read_all(0, 10_000)], ensure_ascii=False).encode()
    async with inner.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM events"))).all()
        keys = (await conn.execute(text("SELECT * FROM personal_keys"))).all()
    return repr([tuple(r) for r in rows + keys]).encode("utf-8")


def leaks(blob: bytes) -> list[str]:
    return [p for p in PERSONAL if p.encode("utf-8") in blob or json.dumps(p).encode() in blob]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
async def test_personal_values_are_stored_sealed_read_in_clear_and_gone_after_erasure(kind, request, tmp_path):
    async with a_store(kind, request, tmp_path) as inner:
        store = SealingStore(inner, Keyring("programmes"))
        await store.append("programme-p1-2026-2027", [designation(), minutes_naming(NAME)])
        assert leaks(await raw_bytes(store)) == []
        stored = [e.data for e in await inner.read_all(0)]
        assert all(isinstance(d["name"], dict) for d in stored[:1]) and stored[0]["referent_id"] == "ref-jeanne"
        assert NAME not in json.dumps(stored, ensure_ascii=False)

        before = await store.read_stream("programme-p1-2026-2027")
        assert parse_event(before[0]).email == EMAIL and before[0].data["phone"] == PHONE
        assert before[1].data["attendees"] == [NAME, "Paul Durand"]

        erased = await erase_person(store, "ref-jeanne", source="programmes", now=datetime.now(timezone.utc))
        after = await store.read_stream("programme-p1-2026-2027")
        assert len(after) == len(before) and [e.id for e in after] == [e.id for e in before]
        event = parse_event(after[0])
        assert (event.name, event.email, event.phone, event.referent_id) == (ERASED, ERASED_EMAIL, ERASED, "ref-jeanne")
        # free text is the stream's, not the person's: erased with the stream (retention), not here
        assert after[1].data["attendees"] == [NAME, "Paul Durand"]
        assert [e.type for e in await store.read_stream(erased.stream_id)] == ["PersonErased"]

        # an erased person is never given a key again: a later event about them holds no plaintext
        await store.append("programme-p1-2026-2027", [designation(role="head")])
        last = (await store.read_stream("programme-p1-2026-2027"))[-1]
        assert parse_event(last).name == ERASED
        assert "ref-jeanne" in (await raw_bytes(store)).decode()  # the reference stays
        assert leaks(await raw_bytes(store)) == []


async def test_a_consumer_fetches_the_owners_key_reads_in_clear_and_forgets_it_on_person_erased(
        request, nats_url, subject_root):
    seen: list[tuple[str, str]] = []

    async def handler(tx, envelope, event) -> None:
        seen.append((event.type, getattr(event, "email", "")))

    async with open_store("sqlite", request, "owner") as owner_inner, \
            open_store("postgres", request, "reader") as reader_inner, \
            connected(nats_url, subject_root, sources=("programmes",)) as nats:
        owner = SealingStore(owner_inner, Keyring("programmes"))
        await KeyService(owner, owner.keyring, nats, subject_root).start()
        await asyncio.sleep(0.2)  # the key service's subscription is made in the background
        reader = SealingStore(reader_inner, Keyring("notifications", nats_key_fetcher(nats, subject_root)))
        await owner.append("programme-p1-2026-2027", [designation()])
        erased = await erase_person(owner, "ref-other", source="programmes", now=datetime.now(timezone.utc))
        published = await owner_inner.read_all(0)
        assert NAME not in json.dumps([e.data for e in published], ensure_ascii=False)
        await publish_envelopes(nats, subject_root, published[:1])

        spec = ConsumerSpec(name="notifications-test", source="programmes", handler=handler,
                            types=["ReferentDesignated", "PersonErased"])
        consumer = Consumer(spec, reader, nats, subject_root=subject_root, service="notifications",
                            fetch_timeout=0.3, backoff_initial=0.05, backoff_max=0.2, keyring=reader.keyring)
        async with running(consumer):
            await eventually(lambda: seen == [("ReferentDesignated", EMAIL)], what="the consumer to read the address")
            async with reader_inner.engine.connect() as conn:  # the reader now holds a copy of the owner's key
                assert (await reader.keyring.keys_for_reading(conn, "programmes", ["ref-jeanne"]))["ref-jeanne"]
            await erase_person(owner, "ref-jeanne", source="programmes", now=datetime.now(timezone.utc))
            await publish_envelopes(nats, subject_root, [e for e in await owner_inner.read_all(0)
                                                         if e.type == "PersonErased" and e.id != erased.id])
            await eventually(lambda: len(seen) == 2, what="PersonErased handled")
        async with reader_inner.engine.connect() as conn:
            assert await reader.keyring.keys_for_reading(conn, "programmes", ["ref-jeanne"]) == {"ref-jeanne": None}
            # read again from the bus (a projection rebuilt): the address is a placeholder now
            reread = await reader.keyring.open_envelope(conn, published[0])
        assert reread.data["email"] == ERASED_EMAIL
        assert leaks(await raw_bytes(reader)) == []


async def test_a_malformed_event_in_clear_is_dead_lettered_with_neither_its_values_nor_plaintext_in_the_body(
        request, nats_url, subject_root):
    async def handler(tx, envelope, event) -> None:  # never reached: the event does not parse
        raise AssertionError("applied a malformed event")

    async with open_store("sqlite", request, "reader") as reader_inner, \
            connected(nats_url, subject_root, sources=("programmes",)) as nats:
        reader = SealingStore(reader_inner, Keyring("reporting"))
        # a producer's bug: plaintext, and a phone too long for the schema
        await publish_envelopes(nats, subject_root, [designation(phone=PHONE * 5)])
        spec = ConsumerSpec(name="reporting-test", source="programmes", handler=handler, types=None)
        consumer = Consumer(spec, reader, nats, subject_root=subject_root, service="reporting",
                            fetch_timeout=0.3, backoff_initial=0.05, backoff_max=0.2, keyring=reader.keyring)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("dead_lettered") == 1, what="one dead letter")
        [letter] = await list_dead_letters(nats, subject_root)
    blob = letter.data + repr(letter.original_headers).encode("utf-8") + letter.error.encode("utf-8")
    assert leaks(blob) == [], blob
    assert "phone" in letter.error  # the field is named, its value is not
    assert json.loads(letter.data)["referent_id"] == "ref-jeanne"  # the rest is as it came


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_the_one_off_seals_a_year_of_events_stored_in_clear_and_changes_nothing_else(kind, request, tmp_path):
    """A year of today's events (reporting's sample history, every service's) stored in clear, as
    before sealing existed: ``reseal_stored`` leaves no personal value in clear, every event reads
    back exactly as it was written, and running it again changes nothing."""
    import random

    from eventkit.shredding import reseal_stored
    from reporting.sample import history

    events = history(random.Random(16), campaigns=2, candidatures=8)
    async with a_store(kind, request, tmp_path) as inner:
        by_stream: dict[str, list[Envelope]] = {}
        for e in events:
            by_stream.setdefault(e.stream_id, []).append(e)
        for stream_id, batch in by_stream.items():
            await inner.append(stream_id, batch)  # the plain store: in clear, as before
        clear = {e.id: e.data for e in await inner.read_all(0, 100_000)}
        personal = [e for e in events if subjects_to_seal(e)]
        assert personal, "the sample holds personal values"

        assert await reseal_stored(inner) == len(personal)
        stored = {e.id: e.data for e in await inner.read_all(0, 100_000)}
        assert all(sealed_subjects(stored[e.id]) for e in personal)
        assert all(not subjects_to_seal(e) for e in await inner.read_all(0, 100_000))
        async with inner.transaction() as tx:  # each event opened with its producer's keys
            opened = {e.id: (await Keyring(e.source).open_envelope(tx.connection, e)).data
                      for e in await inner.read_all(0, 100_000)}
        assert opened == clear
        assert await reseal_stored(inner) == 0
