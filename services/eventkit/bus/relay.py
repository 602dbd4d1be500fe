"""Outbox relay: the store's events table is the outbox; a checkpoint says how far JetStream has
acknowledged it.

No per-row "sent" flag (an UPDATE per event piles up dead tuples): the relay reads the global
log after its checkpoint, publishes a batch with ``publish_async`` (headers from
``Envelope.to_nats()``: ``Nats-Msg-Id`` is the event id), waits for *every* ack of the batch and
only then advances the checkpoint. Any failure leaves the checkpoint where it was and the whole
batch is sent again after a capped exponential backoff: nothing is lost and order is kept;
JetStream's duplicate window drops the re-sent copies it already holds, consumers' inboxes absorb
the rest.

One active relay per store: the relay publishes only while it holds the store lease
``relay:<source>`` (renewed well before its TTL). A second process waits and takes over when the
lease is released or expires.

A relay that cannot get past an event says so (:attr:`OutboxRelay.stall`, ``/readyz``'s
``relay: degraded``, ``jumelage_relay_stalled_seconds``): at once for an error no retry can cure
(an event larger than the server's max_payload, headers included — checked here before sending,
because nats-py checks the body alone and the server closes the connection over the rest), after
``stall_after`` failures in a row at the same position for any other. It keeps retrying: once the
cause is fixed (e.g. the server's max_payload raised) it goes on by itself.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from nats.errors import BadHeaderError, BadSubjectError, MaxPayloadError
from nats.js.errors import NoStreamResponseError

from jumelage_contracts import Envelope
from jumelage_contracts.subjects import DEFAULT_ROOT, event_subject

from .. import metrics
from ..logging import get_logger
from ..store import HEADER_BOUND, nats_message_size
from .connection import NatsConnection
from .lease import LeaseLost, StoreLease
from .provision import StreamLimits, ensure_stream, event_stream_config

log = get_logger("eventkit.relay")


class Backoff:
    """Capped exponential delays: initial, 2×, 4×… up to ``maximum``."""

    def __init__(self, initial: float = 0.1, maximum: float = 5.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next(self) -> float:
        delay = min(self.initial * (2 ** self.failures), self.maximum)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class TooLargeForBus(Exception):
    """The event's headers and body exceed the server's max_payload: no retry will send it."""

    def __init__(self, envelope: Envelope, size: int, max_payload: int) -> None:
        super().__init__(f"{envelope.type} at position {envelope.position} takes {size} bytes with its "
                         f"headers, more than the NATS server's max_payload of {max_payload}")


# Errors that the same event will meet again on every retry.
PERMANENT_ERRORS = (TooLargeForBus, MaxPayloadError, BadHeaderError, BadSubjectError)


@dataclass(frozen=True)
class Stall:
    """The event the relay keeps failing to publish (the outbox waits behind it), and why.

    ``position`` and the event fields are None when the failure came before any event (the
    database did not answer); ``since`` is the ``time.monotonic()`` of the first failure there."""

    error: str
    attempts: int
    since: float
    permanent: bool
    position: int | None = None
    event_id: str | None = None
    type: str | None = None
    stream_id: str | None = None
    size: int | None = None  # bytes on the bus, headers included

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "since"}


class OutboxRelay:
    """Publishes a store's events to JetStream, in position order, at least once."""

    def __init__(self, store: Any, nats: NatsConnection, *, source: str, subject_root: str = DEFAULT_ROOT,
                 batch_size: int = 500, poll_interval: float = 0.2, lease_ttl: float = 10.0,
                 ack_timeout: float = 10.0, backoff_initial: float = 0.1, backoff_max: float = 5.0,
                 holder: str | None = None, stall_after: int = 5) -> None:
        self.store = store
        self.nats = nats
        self.source = source
        self.root = subject_root
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease_ttl = lease_ttl
        self.ack_timeout = ack_timeout
        self.checkpoint_name = f"relay:{source}"
        self.lease = StoreLease(store, f"relay:{source}", lease_ttl, holder=holder, what="relay",
                                on_change=lambda held: metrics.RELAY_LEADER.labels(source).set(1 if held else 0),
                                source=source)
        self.published = 0  # events this relay instance got acknowledged (tests, benchmarks)
        self.stall_after = stall_after  # failures in a row at one position before it reports a stall
        self._failing: Stall | None = None  # the current run of failures at one position
        self._failed_event: Envelope | None = None  # the event the last publish failed on, if known
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._wake = asyncio.Event()
        self._stopping = False
        self._running: asyncio.Task | None = None
        self._stopped = asyncio.Event()

    # -- public -------------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was appended: publish now rather than at the next poll."""
        self._wake.set()

    @property
    def stall(self) -> Stall | None:
        """What the relay cannot get past, once it counts as stuck (permanent error, or
        ``stall_after`` failures in a row at one position); None while events flow."""
        failing = self._failing
        if failing is None or not (failing.permanent or failing.attempts >= self.stall_after):
            return None
        return failing

    def stalled_seconds(self) -> float:
        """How long the relay has been stuck (0 when it is not)."""
        stall = self.stall
        seconds = 0.0 if stall is None else time.monotonic() - stall.since
        metrics.RELAY_STALLED.labels(self.source).set(seconds)
        return seconds

    def status(self) -> dict[str, Any]:
        """The relay's state for ``/readyz``: ``ok``, ``degraded`` (stuck: with the reason and the
        blocking event), ``standby`` (another process holds the lease) or ``waiting for NATS``."""
        stall = self.stall
        stalled = self.stalled_seconds()
        if stall is not None:
            return {"relay": "degraded", "relay_error": stall.error, "relay_stalled_seconds": round(stalled, 1),
                    "relay_blocked_at": stall.describe()}
        if not self.nats.connected:
            return {"relay": "waiting for NATS"}
        return {"relay": "ok" if self.is_leader else "standby"}

    async def backlog(self) -> int:
        """Events stored but not yet acknowledged by JetStream."""
        last = await self.store.last_position()
        checkpoint = await self.store.get_checkpoint(self.checkpoint_name)
        backlog = max(0, last - checkpoint)
        metrics.RELAY_BACKLOG.labels(self.source).set(backlog)
        return backlog

    async def run(self) -> None:
        """Relay until :meth:`stop` (or cancellation). Never raises on NATS or database trouble."""
        self._running = asyncio.current_task()
        self._stopped.clear()
        try:
            while not self._stopping:
                try:
                    await self._step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - retried from the checkpoint
                    metrics.RELAY_ERRORS.labels(self.source).inc()
                    delay = self._backoff.next()
                    log.warning("relay_batch_failed", source=self.source, error=repr(exc), retry_in=delay)
                    await self._failed(exc)
                    await self._pause(delay, wakeable=False)
        finally:
            await self._release()
            self._stopped.set()

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish the batch in flight (bounded by ``timeout``), then release the lease."""
        self._stopping = True
        self._wake.set()
        task = self._running
        if task is not None and not task.done() and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(self._stopped.wait()), timeout)
            except asyncio.TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def publish_once(self) -> int:
        """Publish the next batch after the checkpoint; returns how many events were acknowledged."""
        checkpoint = await self.store.get_checkpoint(self.checkpoint_name)
        events = await self.store.read_all(checkpoint, limit=self.batch_size)
        if not events:
            metrics.RELAY_BACKLOG.labels(self.source).set(0)
            self._flowing()
            return 0
        self._failed_event = events[0]  # until publish knows better, the batch's head is the suspect
        sent = await self.publish(events)
        events = events[:sent]  # the ones before an event too large for the bus (next batch's head)
        await self._advance(events[-1].position)
        self._flowing()
        self.published += len(events)
        metrics.RELAY_PUBLISHED.labels(self.source).inc(len(events))
        metrics.RELAY_CHECKPOINT.labels(self.source).set(events[-1].position)
        return len(events)

    async def publish(self, events: Sequence[Envelope]) -> int:
        """Publish ``events`` in order and wait for every ack; on any failure cancel the rest and
        raise (the caller re-sends the whole batch). Returns how many were acknowledged: all of
        them, or those before the first event too large for the bus (:class:`TooLargeForBus` when
        it is the first)."""
        js = self.nats.js
        if js is None or not self.nats.connected:
            raise ConnectionError("NATS is not connected")
        futures: list[asyncio.Future] = []
        nc = getattr(self.nats, "nc", None)
        max_payload = nc.max_payload if nc is not None else None
        try:
            for envelope in events:
                headers, body = envelope.to_nats()
                if max_payload is not None and len(body) + HEADER_BOUND > max_payload and \
                        (size := nats_message_size(headers, body)) > max_payload:
                    # nats-py would send it (it checks the body alone) and the server would close
                    # the connection: every consumer of this process would feel the stall too
                    if not futures:
                        self._failed_event = envelope
                        raise TooLargeForBus(envelope, size, max_payload)
                    break
                futures.append(await js.publish_async(event_subject(envelope, self.root), body, headers=headers))
            await self._await_acks(futures, events[:len(futures)])
        except NoStreamResponseError:
            # the stream is gone (a NATS server that came back empty): recreate it, then retry
            await self._ensure_stream()
            raise
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()  # frees nats-py's pending slot; the batch is re-sent whole
        duplicates = sum(1 for future in futures if getattr(future.result(), "duplicate", False))
        if duplicates:
            metrics.RELAY_DUPLICATES.labels(self.source).inc(duplicates)
        return len(futures)

    async def _await_acks(self, futures: list[asyncio.Future], events: Sequence[Envelope] = ()) -> None:
        """Every ack, or raise: the first error, a lost connection (pending publish futures never
        fail by themselves when the connection drops), or ``ack_timeout``."""
        deadline = time.monotonic() + self.ack_timeout
        pending = set(futures)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=0.25, return_when=asyncio.FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    self._blame(futures, events, futures.index(future))
                    raise future.exception()  # type: ignore[misc]
            if pending and not self.nats.connected:
                self._blame(futures, events, min(futures.index(f) for f in pending))
                raise ConnectionError("NATS connection lost before every ack arrived")
            if pending and time.monotonic() > deadline:
                self._blame(futures, events, min(futures.index(f) for f in pending))
                raise TimeoutError(f"{len(pending)} acks missing after {self.ack_timeout}s")

    def _blame(self, futures: list[asyncio.Future], events: Sequence[Envelope], index: int) -> None:
        """The batch failed at ``events[index]`` (its ack errored or never came): the stall report
        names that event, though the whole batch is sent again."""
        if len(events) == len(futures):
            self._failed_event = events[index]

    async def republish(self, from_position: int, to_position: int | None = None) -> int:
        """Send events ``from_position``..``to_position`` (inclusive) again; the checkpoint is not
        touched. Inside the stream's duplicate window JetStream drops copies it already holds;
        beyond it consumers see duplicates and their inboxes skip them."""
        after = max(0, from_position - 1)
        sent = 0
        while True:
            events = await self.store.read_all(after, limit=self.batch_size)
            if to_position is not None:
                events = [e for e in events if e.position <= to_position]
            if not events:
                return sent
            count = await self.publish(events)
            sent += count
            after = events[count - 1].position

    # -- stall bookkeeping ----------------------------------------------------------------------

    def _flowing(self) -> None:
        if self._failing is not None and self.stall is not None:
            log.info("relay_flowing_again", source=self.source, after_attempts=self._failing.attempts)
        self._failing = None
        self._failed_event = None
        metrics.RELAY_STALLED.labels(self.source).set(0)

    async def _failed(self, exc: Exception) -> None:
        """Count a failure against the event it happened on (same position: one more attempt)."""
        if isinstance(exc, LeaseLost):  # not stuck: another relay carries on
            self._failing = None
            return
        event, was_stalled = self._failed_event, self.stall is not None
        position = event.position if event is not None else None
        previous = self._failing
        same = previous is not None and previous.position == position
        size = None
        if event is not None:
            size = nats_message_size(*event.to_nats())
        self._failing = Stall(
            error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            attempts=previous.attempts + 1 if same and previous else 1,
            since=previous.since if same and previous else time.monotonic(),
            permanent=isinstance(exc, PERMANENT_ERRORS),
            position=position, event_id=str(event.id) if event is not None else None,
            type=event.type if event is not None else None,
            stream_id=event.stream_id if event is not None else None, size=size,
        )
        if self.stall is not None and not was_stalled:
            log.error("relay_stalled", source=self.source, **self._failing.describe())
        self.stalled_seconds()
        try:  # the backlog grows behind the stuck event: keep the gauge true between scrapes
            await asyncio.wait_for(self.backlog(), 2)
        except Exception:  # noqa: BLE001 - the database may be the trouble; the next scrape asks again
            pass

    # -- loop ---------------------------------------------------------------------------------

    async def _step(self) -> None:
        if not self.nats.connected:
            await self.nats.wait_connected(self.poll_interval)
            return
        if not await self._hold_lease():
            await self._pause(max(self.lease_ttl / 3, self.poll_interval), wakeable=False)
            return
        sent = await self.publish_once()
        self._backoff.reset()
        if sent < self.batch_size:  # caught up: wait for a wake-up or the next poll
            await self._pause(self.poll_interval)

    async def _pause(self, seconds: float, wakeable: bool = True) -> None:
        if self._stopping:
            return
        if not wakeable:
            # a wake-up must not shortcut a backoff; only stop() may
            deadline = time.monotonic() + seconds
            while not self._stopping and (left := deadline - time.monotonic()) > 0:
                await asyncio.sleep(min(left, 0.05))
            return
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()

    @property
    def is_leader(self) -> bool:
        return self.lease.held

    async def _hold_lease(self) -> bool:
        return await self.lease.hold()

    async def _advance(self, position: int) -> None:
        """Move the checkpoint past the acknowledged batch, provided we still hold the lease (a
        relay paused past its TTL must not move a checkpoint another relay now owns)."""
        if self.lease.supported and self.lease.age() > self.lease_ttl / 2:
            if not await self.lease.hold(force=True):
                raise LeaseLost(self.lease.name)
        await self.store.set_checkpoint(self.checkpoint_name, position)

    async def _release(self) -> None:
        await self.lease.release()

    async def _ensure_stream(self) -> None:
        try:
            await ensure_stream(self.nats, event_stream_config(self.source, self.root, StreamLimits.from_env()))
        except Exception as exc:  # noqa: BLE001 - the next batch retries
            log.warning("relay_stream_provision_failed", source=self.source, error=repr(exc))
