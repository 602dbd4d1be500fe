"""Shared helpers of the relay / consumer / outage tests: events, stores of every kind, a NATS
connection with provisioned streams, and ways to read what JetStream holds."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from eventkit.bus import Consumer, NatsConnection, StreamLimits, provision
from eventkit.runtime import ConsumerSpec
from eventkit.memory import InMemoryEventStore
from jumelage_contracts import Envelope, to_envelope
from jumelage_contracts.candidatures import CampaignClosed
from jumelage_contracts.subjects import dead_letter_stream, stream_name
from tests.waiting import eventually  # noqa: F401 - re-exported for the tests of this folder

STORE_KINDS = ["memory", "sqlite", "postgres"]

ACADEMIES = ["paris", "lyon", "creteil", "amiens"]


def campaign_event(i: int, academie: str | None = None, stream_id: str | None = None) -> Envelope:
    academie = academie or ACADEMIES[i % len(ACADEMIES)]
    return to_envelope(
        CampaignClosed(campaign_id=f"campaign-{i}", academie=academie),
        stream_id=stream_id or f"campaign-{i}",
        occurred_at=datetime.now(timezone.utc),
        correlation_id=uuid.uuid4(),
        academie=academie,
    )


@asynccontextmanager
async def open_store(kind: str, request: Any, name: str = "store") -> AsyncIterator[Any]:
    """A fresh store of ``kind`` (memory, sqlite, postgres)."""
    if kind == "memory":
        store = InMemoryEventStore()
    elif kind == "sqlite":
        from eventkit.sql import open_store as open_sql

        tmp = request.getfixturevalue("tmp_path")
        store = await open_sql(f"sqlite+aiosqlite:///{tmp / (name + '.db')}")
    elif kind == "postgres":
        from eventkit.sql import open_store as open_sql
        from tests.infra.postgres import fresh_database

        # a database of its own (the async postgres_url fixture cannot be asked for mid-test)
        async with fresh_database(request.getfixturevalue("postgres_server_url")) as url:
            store = await open_sql(url)
            try:
                yield store
            finally:
                await store.close()
        return
    else:  # pragma: no cover
        raise ValueError(kind)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def connected(url: str, root: str, sources=("candidatures",), limits: StreamLimits | None = None,
                    name: str = "test") -> AsyncIterator[NatsConnection]:
    """A started NatsConnection with the streams of ``root`` provisioned; the streams are deleted
    afterwards so a shared server stays clean."""
    nats = NatsConnection(url, name=name)
    await nats.start()
    assert await nats.wait_connected(5), f"no NATS at {url}"
    await provision(nats, root, sources=sources, limits=limits or StreamLimits())
    try:
        yield nats
    finally:
        if nats.connected:
            for stream in [*(stream_name(s, root) for s in sources), dead_letter_stream(root)]:
                try:
                    await nats.js.delete_stream(stream)
                except Exception:  # noqa: BLE001 - best effort cleanup
                    pass
        await nats.close()


async def publish_envelopes(nats: NatsConnection, root: str, envelopes: list[Envelope]) -> None:
    from jumelage_contracts.subjects import event_subject

    for env in envelopes:
        headers, body = env.to_nats()
        await nats.js.publish(event_subject(env, root), body, headers=headers)


async def stream_messages(nats: NatsConnection, stream: str, timeout: float = 2.0) -> list[Any]:
    """Every message the stream holds, in stream order (through an ephemeral consumer)."""
    info = await nats.js.stream_info(stream)
    total = info.state.messages
    if total == 0:
        return []
    sub = await nats.js.pull_subscribe(
        "", stream=stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=5),
    )
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout + total / 5000
        while len(out) < total and time.monotonic() < deadline:
            try:
                out.extend(await sub.fetch(min(500, total - len(out)), timeout=0.5))
            except asyncio.TimeoutError:
                pass
    finally:
        await sub.unsubscribe()
    return out


@asynccontextmanager
async def running(*runners: Any) -> AsyncIterator[list[asyncio.Task]]:
    """Run relays / consumers as tasks; stop and cancel them afterwards."""
    tasks = [asyncio.create_task(r.run()) for r in runners]
    try:
        yield tasks
    finally:
        for r in runners:
            await r.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Projection:
    """A handler writing one row per event into the consumer's own store, in the consumer's
    transaction (so what it holds is what was committed, in commit order)."""

    def __init__(self, fail: dict[str, int] | None = None, poison: set[str] | None = None) -> None:
        self.calls: dict[str, int] = {}
        self.fail = dict(fail or {})  # campaign id -> how many times to fail first
        self.poison = set(poison or ())
        self.batches: list[int] = []  # sizes of the batches the batch handler committed a call for

    def _check(self, event) -> None:
        cid = event.campaign_id
        self.calls[cid] = self.calls.get(cid, 0) + 1
        if cid in self.poison:
            raise ValueError(f"bad campaign {cid}\nsecond line")
        if self.fail.get(cid, 0) > 0:
            self.fail[cid] -= 1
            raise RuntimeError(f"transient trouble with {cid}")

    @staticmethod
    def _row(envelope: Envelope, event) -> Envelope:
        return Envelope(type="CampaignSeen", source="reporting", stream_id="projection",
                        occurred_at=datetime.now(timezone.utc), correlation_id=envelope.correlation_id,
                        data={"event_id": str(envelope.id), "campaign_id": event.campaign_id})

    async def __call__(self, tx, envelope: Envelope, event) -> None:
        self._check(event)
        await tx.append("projection", [self._row(envelope, event)])

    async def batch(self, tx, events) -> None:
        """The same effect as calling it per event, in ONE append (a batch handler)."""
        for _, event in events:
            self._check(event)
        await tx.append("projection", [self._row(envelope, event) for envelope, event in events])
        self.batches.append(len(events))

    @staticmethod
    async def rows(store) -> list[str]:
        """Event ids in the order their rows were committed."""
        return [e.data["event_id"] for e in await store.read_stream("projection")]

    @staticmethod
    async def campaigns(store) -> list[str]:
        """Campaign ids in the order their rows were committed."""
        return [e.data["campaign_id"] for e in await store.read_stream("projection")]


def make_consumer(store, nats, root, handler, name="reporting-test", types=None, cls=Consumer, batch_handler=None,
                  **kw) -> Consumer:
    kw = {"fetch_timeout": 0.3, "backoff_initial": 0.05, "backoff_max": 0.2, "max_attempts": 3, **kw}
    spec = ConsumerSpec(name=name, source="candidatures", handler=handler, types=types, batch_handler=batch_handler)
    return cls(spec, store, nats, subject_root=root, service="reporting", **kw)
