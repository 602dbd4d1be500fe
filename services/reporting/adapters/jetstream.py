"""Replay a producing service's JetStream stream from a sequence, for the rebuild.

An ephemeral pull consumer with no acks, read in order in large fetches up to the stream's last
sequence at the start of the replay, and deleted when the replay ends (``inactive_threshold`` only
covers a rebuild that dies: the server then forgets the consumer by itself). Its name says what it
is (``reporting-rebuild-…``). The cursor is the stream sequence. A message that is not a valid
envelope is skipped here: the live consumer has already dead-lettered it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator, Sequence

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from jumelage_contracts import Envelope
from jumelage_contracts.subjects import service_filter, stream_name

from eventkit.logging import get_logger

log = get_logger("reporting.rebuild")


class JetStreamLog:
    def __init__(self, js: Any, subject_root: str, sources: Sequence[str], fetch_timeout: float = 2.0,
                 opener: Any = None) -> None:
        """``opener``: ``async (envelopes) -> envelopes`` with their personal values opened
        (``eventkit.shredding``); without it they stay sealed."""
        self.opener = opener
        self.js = js
        self.root = subject_root
        self.sources = list(sources)
        self.fetch_timeout = fetch_timeout

    async def last_sequence(self, source: str) -> int:
        try:
            info = await self.js.stream_info(stream_name(source, self.root))
        except NotFoundError:
            return 0
        return int(info.state.last_seq or 0)

    async def batches(self, source: str, after: int, size: int) -> AsyncIterator[tuple[list[Envelope], int]]:
        last = await self.last_sequence(source)
        if last <= after:
            return
        stream = stream_name(source, self.root)
        config = ConsumerConfig(
            name=f"reporting-rebuild-{uuid.uuid4().hex[:12]}", filter_subject=service_filter(source, self.root),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1, ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0, max_ack_pending=-1, description="reporting rebuild (ephemeral)",
        )
        await self.js.add_consumer(stream, config)
        try:
            sub = await self.js.pull_subscribe_bind(consumer=config.name, stream=stream)
        except BaseException:
            await self._delete(stream, config.name)
            raise
        cursor, idle = after, 0
        try:
            while cursor < last:
                try:
                    msgs = await sub.fetch(size, timeout=self.fetch_timeout)
                except asyncio.TimeoutError:
                    msgs = []
                if not msgs:
                    idle += 1
                    if idle >= 3:  # the rest was deleted (limits): nothing more to read
                        return
                    continue
                idle = 0
                envelopes = []
                for msg in msgs:
                    cursor = msg.metadata.sequence.stream
                    try:
                        envelopes.append(Envelope.from_nats(msg.headers, msg.data))
                    except ValueError:
                        continue
                if self.opener is not None:
                    envelopes = await self.opener(envelopes)
                yield envelopes, cursor
        finally:
            try:
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - deleted below, and expires by itself anyway
                pass
            await self._delete(stream, config.name)

    async def _delete(self, stream: str, name: str) -> None:
        try:
            await self.js.delete_consumer(stream, name)
        except NotFoundError:
            pass  # already gone (expired while the replay was held up)
        except Exception as exc:  # noqa: BLE001 - not worth failing a rebuild for: it expires anyway
            log.warning("rebuild_consumer_not_deleted", stream=stream, consumer=name, error=repr(exc))
