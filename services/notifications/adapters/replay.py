"""The source streams read from the start, for the rebuild: JetStream (an ephemeral pull consumer
without acks, read in order up to the stream's last sequence when the read starts) or a list
(tests). ``batches`` yields envelopes with the cursor after them, so a second read resumes."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Mapping, Sequence

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError, ServiceUnavailableError

from jumelage_contracts import Envelope
from jumelage_contracts.subjects import service_filter, stream_name

UNAVAILABLE_RETRIES = 40  # pulls answered 503 in a row (0.25 s apart) before the read gives up


class ListLog:
    """``{source: [envelopes in order]}`` held in memory."""

    def __init__(self, events: Mapping[str, Sequence[Envelope]]) -> None:
        self.events = {source: list(items) for source, items in events.items()}
        self.sources = list(self.events)

    async def batches(self, source: str, after: int, size: int = 500) -> AsyncIterator[tuple[list[Envelope], int]]:
        items = self.events.get(source, [])
        for start in range(after, len(items), size):
            chunk = items[start:start + size]
            yield chunk, start + len(chunk)


class JetStreamLog:
    def __init__(self, js: Any, subject_root: str, sources: Sequence[str], fetch_timeout: float = 2.0,
                 opener: Any = None) -> None:
        """``opener``: ``async (envelopes) -> envelopes`` with their personal values opened
        (``eventkit.shredding``); without it they stay sealed, and the rebuild would plan on ciphertext."""
        self.js, self.root, self.sources, self.fetch_timeout = js, subject_root, list(sources), fetch_timeout
        self.opener = opener

    async def batches(self, source: str, after: int, size: int = 500) -> AsyncIterator[tuple[list[Envelope], int]]:
        try:
            last = int((await self.js.stream_info(stream_name(source, self.root))).state.last_seq or 0)
        except NotFoundError:
            return
        if last <= after:
            return
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1,
                                ack_policy=AckPolicy.NONE, inactive_threshold=60.0,
                                description="notifications rebuild (ephemeral)")
        sub = await self.js.pull_subscribe(service_filter(source, self.root), stream=stream_name(source, self.root),
                                           config=config)
        cursor, empty, unavailable = after, 0, 0
        try:
            while cursor < last and empty < 3:  # three empty fetches: the rest was removed (limits)
                try:
                    msgs = await sub.fetch(size, timeout=self.fetch_timeout)
                except asyncio.TimeoutError:
                    msgs = []  # nats-py may also return [] instead of raising
                except ServiceUnavailableError:
                    # on a cluster the new consumer may not answer its first pulls yet (503): not
                    # an empty fetch — counting it as one could end the read early — but a retry
                    unavailable += 1
                    if unavailable > UNAVAILABLE_RETRIES:
                        raise
                    await asyncio.sleep(0.25)
                    continue
                if not msgs:
                    empty += 1
                    continue
                empty, found = 0, []
                for msg in msgs:
                    cursor = msg.metadata.sequence.stream
                    try:
                        found.append(Envelope.from_nats(msg.headers, msg.data))
                    except ValueError:
                        continue  # dead-lettered by the live consumer already
                if self.opener is not None and found:
                    found = await self.opener(found)
                yield found, cursor
        finally:
            try:
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - the server forgets it after inactive_threshold anyway
                pass
