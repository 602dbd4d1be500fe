"""Durable pull consumer: in-order, exactly-once *effects* on top of at-least-once delivery.

Written on nats-py directly rather than FastStream, on purpose: FastStream's defaults terminate a
message whose handler raised (never redelivered), handle a fetched batch concurrently (order
lost) and log every message. Here every choice is explicit:

- **the position is the consumer's own, in its database.** A row of ``consumer_positions``
  (consumer, stream) holds the last stream sequence whose effects are committed; every
  transaction that applies messages raises it in the same commit (``advance_consumer_position``,
  never lower), and so does a dead letter, in a small transaction of its own. JetStream's
  durable consumer is only the delivery cursor, and acks are its bookkeeping. Why: a process
  that dies holding a fetched, unacknowledged batch gets it back only after ``ack_wait``, and a
  restarted process that just fetched again would apply the *later* events first — a projection
  would meet an ActionCancelled before its ActionScheduled (measured: 13–31 cancellations lost
  per crash). So :meth:`Consumer.ensure` (at start and at every resubscribe) compares the row
  with the durable's state: when the durable holds messages delivered but not acknowledged
  (``num_ack_pending``, ``num_redelivered``), stands before the position, does not exist, or
  has another configuration, it is deleted and made again from position + 1
  (``DeliverPolicy.BY_START_SEQUENCE``; ``ALL`` at 0). Nothing at or below the position is
  applied again, nothing after it is skipped, and the order is the stream's. With no row yet and
  an existing durable (a deployment from before this table), the durable's ack floor is adopted:
  a message is acked only after its commit. A stream deleted and made again (sequences start at
  1 again) is recognised by its creation time and read from its start; the inbox skips what was
  applied. Deleting the durable loses JetStream's delivery counts, so one consumer process per
  durable (order needs it anyway), and a message that kills the process outright is retried at
  every restart rather than dead-lettered;
- durable pull consumer named after the spec, explicit acks, ``max_deliver`` unlimited (the kit
  decides when to give up, so the server never drops a message silently), ``ack_wait`` 30 s;
- a fetched batch is handled strictly in order, one message at a time; a redelivered message at
  or below the position is acked unread;
- each message: decode (``Envelope.from_nats`` + ``parse_event``; malformed, unknown type,
  invalid payload, or a ``source`` that is not the subject's service → dead-letter at once, no
  retries), then a store transaction holding the
  inbox row (``mark_processed``; already there → duplicate, skip), the handler's writes and the
  position; commit, then ack. A crash between commit and ack: the position says it is done;
- fast path: a fetched batch is first tried as ONE transaction (every message's inbox row and
  handler writes in order, the position, one commit, then the acks in order) — a commit per
  message costs a round trip and an fsync each. If anything in it fails, it is rolled back whole
  and the batch is handled again one message per transaction, the careful path below. Handlers
  must therefore only write through the transaction (they may run again after a rollback). A
  spec with a ``batch_handler`` gets the batch's new events in ONE call on this path (a
  projection then writes a batch in a few statements instead of a few per event); the careful
  path still calls ``handler`` per message, so the two must have the same effect;
- a handler exception rolls back. **Order is kept rather than throughput**: the consumer keeps
  the failing message and the rest of its batch in hand (``in_progress`` resets their
  ``ack_wait``), sleeps a capped exponential backoff and calls the handler again; later messages
  wait. ``nak(delay)`` was rejected: JetStream would deliver later messages meanwhile (a
  projection would see an action completed before it was scheduled), and a plain ``nak`` puts the
  message at the *end* of the redelivery queue, behind the later ones. The attempt count starts
  from JetStream's ``num_delivered``; with ``max_deliver`` unlimited the server never gives up on
  its own. The cost: one poison message stalls its consumer for the sum of the backoffs (about
  3 s with the defaults) before it is dead-lettered;
- after ``max_attempts`` the message goes to the dead-letter stream with the original body and
  headers — less the ``Nats-*`` ones the server acts on (``Nats-Expected-Stream`` and the like
  would make the dead letter's publish fail; the original ``Nats-Msg-Id`` is kept as
  ``Jumelage-Original-Msg-Id``) — plus the error, its type, the consumer, the original subject,
  stream and sequence and the delivery count; then it is acked and the consumer goes on. A dead
  letter never fails for its size: when headers and body would pass the server's
  ``max_payload`` (a body near 1 MiB; the server would close the connection), it carries the
  first KiB of the body with the original's size and SHA-256 (``Jumelage-Truncated``), and the
  original stays in its stream, where ``dead-letters replay`` reads it by stream and sequence;
- **one active process per durable**: a consumer runs only while it holds the store lease
  ``consumer:<name>`` (``acquire_lease``, the same leases as the relay's); the others wait in
  standby and one takes over when the holder stops (it releases the lease) or dies (the lease
  expires after ``lease_ttl``, 10 s by default). The taker reconciles the durable with the
  position as at any start. Every transaction that commits effects or a position first renews
  the lease *inside* that transaction, as its last statement (``hold_lease``, the fence): a holder that paused past its
  lease — and so may have been replaced — cannot commit anything, it finds out and goes back to
  standby. So several processes of one service may run side by side without interleaving a
  durable's batches;
- infrastructure errors (database or network unreachable, a database connection closed or
  invalidated — :func:`is_infrastructure_error`) are retried forever without using up the
  message's attempts: an outage must delay events, not dead-letter them. Errors the database
  raises on a live connection (an IntegrityError from a handler bug) do count.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import time
from datetime import datetime, timezone
from typing import Any, Callable

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from pydantic import ValidationError

from jumelage_contracts import Envelope, Header, parse_event
from jumelage_contracts.personal import personal_plan
from jumelage_contracts.subjects import DEFAULT_ROOT, dead_letter_subject, service_filter, stream_name, type_filter

from .. import metrics
from ..logging import get_logger
from ..shredding import sealed_subjects
from .connection import NatsConnection
from .inbox import mark_processed_many
from .lease import LeaseLost, StoreLease
from .relay import Backoff

log = get_logger("eventkit.consumer")


class DeadLetterHeader:
    ERROR = "Jumelage-Error"
    ERROR_TYPE = "Jumelage-Error-Type"
    CONSUMER = "Jumelage-Consumer"
    ORIGINAL_SUBJECT = "Jumelage-Original-Subject"
    ORIGINAL_STREAM = "Jumelage-Original-Stream"
    ORIGINAL_MSG_ID = "Jumelage-Original-Msg-Id"
    STREAM_SEQUENCE = "Jumelage-Stream-Sequence"
    DELIVERY_COUNT = "Jumelage-Delivery-Count"  # JetStream deliveries of the original
    ATTEMPTS = "Jumelage-Attempts"  # handler calls, counting retries made without redelivery
    DEAD_LETTERED_AT = "Jumelage-Dead-Lettered-At"
    # set when the body was cut to fit max_payload: the original stays at stream + sequence
    TRUNCATED = "Jumelage-Truncated"
    ORIGINAL_SIZE = "Jumelage-Original-Size"
    ORIGINAL_SHA256 = "Jumelage-Original-Sha256"


# What a truncated dead letter keeps of the original body, and room kept under max_payload for
# the protocol's own bytes.
DEAD_LETTER_BODY_KEPT = 1024
_PAYLOAD_MARGIN = 256


def server_headers(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` without the ``Nats-*`` ones the server acts on at publish time
    (``Nats-Expected-Stream``, ``Nats-Expected-Last-Sequence``, ``Nats-Msg-Id``, ``Nats-Rollup``,
    ``Nats-TTL``…): copied onto another publish they would make it fail or be dropped."""
    return {k: v for k, v in headers.items() if not k.lower().startswith("nats-")}


def encoded_headers_size(headers: dict[str, str]) -> int:
    """Bytes of ``headers`` as the NATS protocol sends them (``NATS/1.0``, one line each, a blank
    line); the server's ``max_payload`` counts them with the body."""
    return len(b"NATS/1.0\r\n\r\n") + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())


class Undecodable(ValueError):
    """The message is not a valid event of a known type: it cannot succeed on retry."""


class SourceMismatch(Undecodable):
    """The subject names one service and the envelope's ``source`` another. The bus lets a
    service publish only under its own ``<root>.<service>.>``, so the subject is what vouches
    for the sender; an envelope claiming otherwise is forged or broken: never applied."""


def subject_service(subject: str) -> str:
    """The service token of ``<root>.<service>.<academie>.<EventType>`` (the root may hold dots)."""
    tokens = subject.split(".")
    return tokens[-3] if len(tokens) >= 4 else ""


def source_must_match_subject(subject: str, envelope: Envelope) -> None:
    service = subject_service(subject)
    if service != envelope.source:
        raise SourceMismatch(f"subject {subject} is {service!r}'s but the envelope's source is {envelope.source!r}")


def _infrastructure_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, ConnectionError, asyncio.TimeoutError]
    try:
        from sqlalchemy.exc import InterfaceError, OperationalError

        errors += [OperationalError, InterfaceError]
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        pass
    try:
        import asyncpg.exceptions as pg

        # the connection is gone or refused: class 08, administrator/crash shutdown, "cannot
        # connect now", and the client's own "connection is closed" (InterfaceError)
        errors += [pg.PostgresConnectionError, pg.AdminShutdownError, pg.CrashShutdownError,
                   pg.CannotConnectNowError, pg.InterfaceError]
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    return tuple(errors)


INFRASTRUCTURE_ERRORS = _infrastructure_errors()
_CONNECTION_LOST_STATES = ("08", "57P01", "57P02", "57P03")


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when ``exc`` says the database or the network is away, not that the message is bad:
    OS and timeout errors, SQLAlchemy's Operational/Interface errors, any DBAPIError whose
    connection was invalidated, and asyncpg's connection-loss errors wherever SQLAlchemy wrapped
    them (``.orig``, ``__cause__``; SQLAlchemy may report them as a plain DBAPIError or an
    InternalError). A constraint violation or a handler's own exception is not."""
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, INFRASTRUCTURE_ERRORS) or getattr(error, "connection_invalidated", False):
            return True
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_CONNECTION_LOST_STATES):
            return True
        # not __context__: a handler that raises its own error while handling one is a handler bug
        todo += [getattr(error, "orig", None), error.__cause__]
    return False


class Consumer:
    """Runs one ``runtime.ConsumerSpec`` (name, source, handler, types) against JetStream."""

    def __init__(self, spec: Any, store: Any, nats: NatsConnection, *, subject_root: str = DEFAULT_ROOT,
                 service: str | None = None, after_commit: Callable[[], Any] | None = None,
                 batch_size: int = 100, fetch_timeout: float = 1.0, ack_wait: float = 30.0,
                 max_ack_pending: int = 1000, max_attempts: int = 5, backoff_initial: float = 0.2,
                 backoff_max: float = 10.0, lag_interval: float = 5.0, batch_transactions: bool = True,
                 lease_ttl: float = 10.0, holder: str | None = None, keyring: Any = None) -> None:
        self.spec = spec
        self.store = store
        self.nats = nats
        self.root = subject_root
        self.service = service
        self.after_commit = after_commit
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.ack_wait = ack_wait
        self.max_ack_pending = max_ack_pending
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.lag_interval = lag_interval
        self.batch_transactions = batch_transactions
        self.keyring = keyring  # eventkit.shredding.Keyring: opens sealed personal values
        self._failed_in_batch: dict[int, int] = {}
        self.name: str = spec.name
        self.stream = stream_name(spec.source, subject_root)
        # one active process per durable (module doc): only the lease's holder fetches
        self.lease = StoreLease(store, f"consumer:{self.name}", lease_ttl, holder=holder, what="consumer",
                                on_change=lambda held: metrics.CONSUMER_ACTIVE.labels(spec.name).set(1 if held else 0),
                                consumer=self.name)
        self.last_stream_seq = 0
        self.position = 0  # last stream sequence committed in the store (module doc), once ensured
        self.counts: dict[str, int] = {}  # outcome -> messages, for this instance (tests, benchmarks)
        self._sub: Any = None
        self._stopping = False
        self._running: asyncio.Task | None = None
        self._stopped = asyncio.Event()
        self._lag_at = 0.0
        # types filtered here rather than by the server (nats-server < 2.10: one filter subject)
        self._client_filter: frozenset[str] | None = None

    # -- public -------------------------------------------------------------------------------

    def consumer_config(self) -> ConsumerConfig:
        types = list(self.spec.types or [])
        config = ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            description=f"{self.service or '?'} reads {self.spec.source}",
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
        )
        filters = [type_filter(t, self.spec.source, self.root) for t in types] or [service_filter(self.spec.source, self.root)]
        self._client_filter = None
        if len(filters) == 1:
            config.filter_subject = filters[0]
        elif self._server_has_multiple_filters():
            config.filter_subjects = filters
        else:
            # nats-server < 2.10 ignores filter_subjects (and would deliver everything without
            # saying so): take the whole service and drop the other types here, acked unread
            config.filter_subject = service_filter(self.spec.source, self.root)
            self._client_filter = frozenset(types)
        return config

    def _server_has_multiple_filters(self) -> bool:
        nc = getattr(self.nats, "nc", None)
        if nc is None or not nc.is_connected:
            return True
        version = nc.connected_server_version
        return (version.major, version.minor) >= (2, 10)

    async def ensure(self) -> None:
        """Make the durable consumer deliver from this consumer's committed position, and bind a
        pull subscription (module doc). Without a store (``jumelage provision``) the durable is
        only created when missing, never moved."""
        js = self.nats.js
        assert js is not None
        config = self.consumer_config()
        try:
            info = await js.consumer_info(self.stream, self.name)
        except NotFoundError:
            info = None
        if self.store is None:
            if info is None:
                await js.add_consumer(self.stream, config)
        else:
            await self._resume_from_position(config, info)
        self._sub = await js.pull_subscribe_bind(durable=self.name, stream=self.stream)

    async def _resume_from_position(self, config: ConsumerConfig, info: Any) -> None:
        js = self.nats.js
        stream = await js.stream_info(self.stream)  # type: ignore[union-attr]
        created = _stream_created(stream)
        async with self.store.transaction() as tx:
            row = await tx.get_consumer_position(self.name, self.stream)
            if row is None:
                # a deployment from before positions: everything at or below the ack floor was
                # committed before it was acked
                position = info.ack_floor.stream_seq if info is not None and info.ack_floor else 0
                await tx.reset_consumer_position(self.name, self.stream, position, created)
            else:
                position, known = row
                if (known is not None and created is not None and known != created) or position > stream.state.last_seq:
                    # the stream was made again: its sequences started over (the inbox skips
                    # what was applied from the earlier one)
                    log.warning("consumer_stream_recreated", consumer=self.name, stream=self.stream,
                                old_position=position)
                    position = 0
                if (position, known) != row or (known is None and created is not None):
                    await tx.reset_consumer_position(self.name, self.stream, position, created)
        self.position = position
        if info is not None and self._in_step(info, config, position):
            return
        if info is not None:
            log.info("consumer_rewound", consumer=self.name, position=position,
                     ack_pending=info.num_ack_pending, delivered=info.delivered.stream_seq if info.delivered else None)
            await js.delete_consumer(self.stream, self.name)  # type: ignore[union-attr]
        if position > 0:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = position + 1
        await js.add_consumer(self.stream, config)  # type: ignore[union-attr]

    @staticmethod
    def _in_step(info: Any, config: ConsumerConfig, position: int) -> bool:
        """The durable can go on as it is: every message it delivered was acknowledged (so
        committed, module doc), it is not behind the position, and it is configured as wanted.
        Delivered *beyond* the position is fine when nothing is pending: those are messages
        acked unread (types filtered here on servers before 2.10), which write no position."""
        have = info.config
        delivered = info.delivered.stream_seq if info.delivered else 0
        return (not info.num_ack_pending and not info.num_redelivered and delivered >= position
                and (have.filter_subject or None) == (config.filter_subject or None)
                and sorted(have.filter_subjects or []) == sorted(config.filter_subjects or [])
                and abs((have.ack_wait or 0) - (config.ack_wait or 0)) < 0.5
                and have.max_ack_pending == config.max_ack_pending)

    async def run(self) -> None:
        """Consume until :meth:`stop` or cancellation; never raises on NATS or database trouble."""
        backoff = Backoff(self.backoff_initial, self.backoff_max)
        self._running = asyncio.current_task()
        self._stopped.clear()
        try:
            await self._loop(backoff)
        finally:
            self._stopped.set()

    async def _loop(self, backoff: Backoff) -> None:
        while not self._stopping:
            try:
                if not self.nats.connected:
                    await self.nats.wait_connected(self.fetch_timeout)
                    continue
                if not await self._hold_lease():
                    await self._drop_subscription()  # standby: another process consumes
                    await self._sleep(self.lease.ttl / 3)
                    continue
                if self._sub is None:
                    await self.ensure()
                await self._fetch_and_handle()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                # replaced while paused: nothing of the batch in hand was committed; the new
                # holder delivers it again from the position
                log.warning("consumer_lease_lost", consumer=self.name, holder=self.lease.holder)
                self.lease.lost()
                await self._drop_subscription()
            except Exception as exc:  # noqa: BLE001 - rebind and retry
                delay = backoff.next()
                log.warning("consumer_failed", consumer=self.name, error=repr(exc), retry_in=delay)
                await self._drop_subscription()
                await self._sleep(delay)
        await self._drop_subscription()
        await self.lease.release()

    async def stop(self, timeout: float | None = None) -> None:
        """Let the fetch in flight end (its pull request would otherwise still take messages
        from the server, leaving them unacknowledged for ``ack_wait``), give back what it got,
        and finish the message in hand; then :meth:`run` returns."""
        self._stopping = True
        task = self._running
        if task is not None and not task.done() and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(self._stopped.wait()),
                                       timeout if timeout is not None else self.fetch_timeout + 5)
            except asyncio.TimeoutError:
                log.warning("consumer_stop_timed_out", consumer=self.name)

    async def lag(self) -> dict[str, int]:
        """Pending (not yet delivered) and ack-pending counts from JetStream's consumer info."""
        info = await self.nats.js.consumer_info(self.stream, self.name)  # type: ignore[union-attr]
        metrics.CONSUMER_LAG.labels(self.name).set(info.num_pending or 0)
        metrics.CONSUMER_ACK_PENDING.labels(self.name).set(info.num_ack_pending or 0)
        return {"pending": info.num_pending or 0, "ack_pending": info.num_ack_pending or 0,
                "last_stream_seq": self.last_stream_seq}

    # -- loop ---------------------------------------------------------------------------------

    async def _fetch_and_handle(self) -> None:
        try:
            msgs = await self._sub.fetch(self.batch_size, timeout=self.fetch_timeout)
        except asyncio.TimeoutError:  # nats-py raises on an idle fetch…
            msgs = []
        if not msgs:  # …or returns an empty list: both mean "nothing now"
            await self._maybe_report_lag(force=True)
            return
        if self._stopping:
            await self._nak_all(msgs)
            return
        msgs = await self._skip_applied(msgs)
        if self._client_filter is not None:
            msgs = await self._drop_unwanted(msgs)
        if not msgs:
            return
        if self.batch_transactions and len(msgs) > 1 and await self._apply_batch(msgs):
            await self._maybe_report_lag()
            return
        for index, msg in enumerate(msgs):
            if self._stopping or not await self._handle(msg, msgs[index + 1:]):
                # stopping: hand the unhandled rest back at once, in order, for the next process
                await self._nak_all(msgs[index:])
                return
        await self._maybe_report_lag()

    async def _handle(self, msg: Any, rest: list[Any]) -> bool:
        """Apply, retry or dead-letter one message; False when stopped before it was settled."""
        meta = msg.metadata
        seq = meta.sequence.stream
        try:
            envelope, event = await self._decode(msg)
        except Undecodable as exc:
            await self._dead_letter(msg, exc)
            return True
        # deliveries so far (a restart keeps counting) + a failure in a batch transaction + the
        # retries made here without redelivery
        attempt = max(1, meta.num_delivered) + self._failed_in_batch.pop(seq, 0)
        retries = 0
        while True:
            try:
                applied = await self._apply(envelope, event, seq)
                break
            except (asyncio.CancelledError, LeaseLost):
                raise
            except Exception as exc:  # noqa: BLE001 - the handler's bug or a rule: retried, then dead-lettered
                if is_infrastructure_error(exc):
                    # an outage, not a bad message: retry without using up its attempts
                    log.warning("consumer_infrastructure_error", consumer=self.name, seq=seq, error=repr(exc))
                elif attempt >= self.max_attempts:
                    await self._dead_letter(msg, exc, attempt)
                    return True
                else:
                    log.warning("consumer_handler_failed", consumer=self.name, seq=seq, attempt=attempt,
                                event_type=envelope.type, error=repr(exc))
                    attempt += 1
            self._count("retried")
            retries += 1
            # keep this message and the rest of the batch ours while we back off (ack_wait)
            for held in (msg, *rest):
                await held.in_progress()
            await self._sleep(min(self.backoff_initial * 2 ** (retries - 1), self.backoff_max))
            if self._stopping:
                return False
            if not await self._hold_lease():  # a long retry must not outlive the lease unseen
                raise LeaseLost(self.lease.name)
        await self._ack(msg)
        self._done(seq)
        self._count("applied" if applied else "duplicate")
        if applied and self.after_commit is not None:
            result = self.after_commit()
            if inspect.isawaitable(result):
                await result
        return True

    async def _apply_batch(self, msgs: list[Any]) -> bool:
        """The fast path: the whole fetched batch in ONE transaction (inbox rows and handler
        writes), one commit, then the acks in order. False — nothing committed, nothing acked —
        when any message does not decode or any handler raises: the batch is then handled one
        message per transaction (the careful path: retries, dead letters)."""
        decoded = []
        for msg in msgs:
            try:
                decoded.append((msg, *await self._decode(msg)))
            except Undecodable:
                return False
        applied: list[bool] = []
        current: Any = None
        batch_handler = self.spec.batch_handler
        try:
            async with self.store.transaction() as tx:
                new = await mark_processed_many(tx, self.name, [envelope.id for _, envelope, _ in decoded])
                fresh = []
                for msg, envelope, event in decoded:
                    if envelope.id in new:
                        new.discard(envelope.id)  # the same event twice in one batch: apply once
                        await self._forget_erased(tx, event)
                        if batch_handler is None:
                            current = msg
                            await self.spec.handler(tx, envelope, event)
                        else:
                            fresh.append((envelope, event))
                        applied.append(True)
                    else:
                        applied.append(False)
                current = None
                if fresh:  # which message failed is unknown here: the careful path will tell
                    await batch_handler(tx, fresh)
                last = max(msg.metadata.sequence.stream for msg in msgs)
                await self.lease.fence(tx)
                await tx.advance_consumer_position(self.name, self.stream, last)
        except (asyncio.CancelledError, LeaseLost):
            raise
        except Exception as exc:  # noqa: BLE001 - rolled back; the careful path takes over
            if current is not None and not is_infrastructure_error(exc):
                seq = current.metadata.sequence.stream
                self._failed_in_batch[seq] = self._failed_in_batch.get(seq, 0) + 1
                self._count("retried")
            log.info("consumer_batch_fell_back", consumer=self.name, size=len(msgs), error=repr(exc))
            return False
        self.position = max(self.position, last)
        for (msg, _, _), was_applied in zip(decoded, applied):
            await self._ack(msg)
            self._done(msg.metadata.sequence.stream)
            self._count("applied" if was_applied else "duplicate")
        if any(applied) and self.after_commit is not None:
            result = self.after_commit()
            if inspect.isawaitable(result):
                await result
        return True

    async def _skip_applied(self, msgs: list[Any]) -> list[Any]:
        """Ack, unread, what the position says is committed (a redelivery after a lost ack)."""
        fresh = []
        for msg in msgs:
            if msg.metadata.sequence.stream <= self.position:
                await self._ack(msg)
                self._done(msg.metadata.sequence.stream)
                self._count("duplicate")
            else:
                fresh.append(msg)
        return fresh

    async def _drop_unwanted(self, msgs: list[Any]) -> list[Any]:
        """Ack, unread, the messages of types this consumer did not ask for (the type is the
        subject's last token, see ``jumelage_contracts.subjects``)."""
        wanted = []
        for msg in msgs:
            if msg.subject.rsplit(".", 1)[-1] in self._client_filter:  # type: ignore[operator]
                wanted.append(msg)
            else:
                await self._ack(msg)
                self._done(msg.metadata.sequence.stream)
                self._count("filtered")
        return wanted

    async def _decode(self, msg: Any) -> tuple[Envelope, Any]:
        """Envelope, personal values opened (``KeyUnavailable`` while their owner cannot be
        asked: an outage, retried), typed event."""
        try:
            envelope = Envelope.from_nats(msg.headers, msg.data)
        except Exception as exc:  # noqa: BLE001 - every decoding failure is permanent
            raise Undecodable(describe_error(exc)) from exc
        source_must_match_subject(msg.subject, envelope)
        if self.keyring is not None and sealed_subjects(envelope.data):
            async with self.store.transaction() as tx:
                envelope = await self.keyring.open_envelope(tx.connection, envelope)
        try:
            return envelope, parse_event(envelope)
        except Exception as exc:  # noqa: BLE001 - every decoding failure is permanent
            raise Undecodable(describe_error(exc)) from exc

    async def _apply(self, envelope: Envelope, event: Any, seq: int) -> bool:
        async with self.store.transaction() as tx:
            applied = await tx.mark_processed(self.name, envelope.id)
            if applied:
                await self._forget_erased(tx, event)
                await self.spec.handler(tx, envelope, event)
            await self.lease.fence(tx)
            await tx.advance_consumer_position(self.name, self.stream, seq)
        self.position = max(self.position, seq)
        return applied

    async def _forget_erased(self, tx: Any, event: Any) -> None:
        """A ``PersonErased``: this service's keys of the person (its own and its copies of
        every owner's) go, in the transaction of the service's own handling of it."""
        if self.keyring is not None and getattr(event, "type", None) == "PersonErased":
            await self.keyring.erase(tx.connection, event.person_id)

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        metrics.CONSUMER_MESSAGES.labels(self.name, outcome).inc()

    async def _ack(self, msg: Any) -> None:
        await msg.ack()

    def _done(self, seq: int) -> None:
        self.last_stream_seq = max(self.last_stream_seq, seq)
        metrics.CONSUMER_LAST_SEQ.labels(self.name).set(self.last_stream_seq)

    async def _nak_all(self, msgs: list[Any]) -> None:
        for msg in msgs:
            await msg.nak()

    async def _dead_letter(self, msg: Any, error: BaseException, attempts: int = 1) -> None:
        """Publish the dead letter, record the position past it, ack (module doc). Its
        ``Nats-Msg-Id`` makes it one dead letter per consumer and message even if this process
        dies before the ack and does it again."""
        meta = msg.metadata
        seq = meta.sequence.stream
        original = dict(msg.headers or {})
        original_id = original.get(Header.MSG_ID)
        cause = error.__cause__ if isinstance(error, Undecodable) and error.__cause__ else error
        about = {
            Header.MSG_ID: f"deadletter:{self.name}:{meta.stream}:{seq}",
            DeadLetterHeader.ERROR: _header_value(str(error) or repr(error)),
            DeadLetterHeader.ERROR_TYPE: type(cause).__name__,
            DeadLetterHeader.CONSUMER: self.name,
            DeadLetterHeader.ORIGINAL_SUBJECT: msg.subject,
            DeadLetterHeader.ORIGINAL_STREAM: meta.stream,
            DeadLetterHeader.STREAM_SEQUENCE: str(seq),
            DeadLetterHeader.DELIVERY_COUNT: str(meta.num_delivered),
            DeadLetterHeader.ATTEMPTS: str(attempts),
            DeadLetterHeader.DEAD_LETTERED_AT: datetime.now(timezone.utc).isoformat(),
        }
        if original_id:
            about[DeadLetterHeader.ORIGINAL_MSG_ID] = _header_value(original_id)
        body = await self._sealed_body(original, msg.data or b"")
        headers, body = self._fit_dead_letter({**server_headers(original), **about}, about, body)
        await self.nats.js.publish(dead_letter_subject(self.name, self.root), body, headers=headers)  # type: ignore[union-attr]
        if self.store is not None:
            async with self.store.transaction() as tx:
                await self.lease.fence(tx)
                await tx.advance_consumer_position(self.name, self.stream, seq)
            self.position = max(self.position, seq)
        await self._ack(msg)
        self._done(seq)
        self._count("dead_lettered")
        log.error("consumer_dead_lettered", consumer=self.name, seq=seq, subject=msg.subject,
                  error_type=type(cause).__name__, error=str(error)[:500], attempts=attempts,
                  truncated=DeadLetterHeader.TRUNCATED in headers)

    async def _sealed_body(self, headers: dict[str, str], body: bytes) -> bytes:
        """The body with any personal value found in clear sealed under this service's keys (a
        producer's bug must not leave plaintext in the dead-letter stream); as it was otherwise."""
        if self.keyring is None or self.store is None:
            return body
        try:
            data = json.loads(body)
        except ValueError:
            return body
        event_type, stream_id = headers.get(Header.TYPE, ""), headers.get(Header.STREAM_ID, "")
        if not isinstance(data, dict) or not personal_plan(event_type):
            return body
        async with self.store.transaction() as tx:
            sealed = await self.keyring.seal_payload(tx.connection, event_type, stream_id, data)
        return json.dumps(sealed, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _fit_dead_letter(self, headers: dict[str, str], about: dict[str, str],
                         body: bytes) -> tuple[dict[str, str], bytes]:
        """The dead letter as it is when it fits the server's ``max_payload`` (headers and body
        together), else the first KiB of the body with the original's size and SHA-256 — and,
        should the original's headers alone be too large, without them."""
        nc = getattr(self.nats, "nc", None)
        limit = (getattr(nc, "max_payload", 0) or 1024 * 1024) - _PAYLOAD_MARGIN
        if encoded_headers_size(headers) + len(body) <= limit:
            return headers, body
        marks = {DeadLetterHeader.TRUNCATED: "true", DeadLetterHeader.ORIGINAL_SIZE: str(len(body)),
                 DeadLetterHeader.ORIGINAL_SHA256: hashlib.sha256(body).hexdigest()}
        kept = body[:DEAD_LETTER_BODY_KEPT]
        headers = {**headers, **marks}
        if encoded_headers_size(headers) + len(kept) > limit:
            headers = {**about, **marks}
        return headers, kept

    async def _maybe_report_lag(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._lag_at < self.lag_interval:
            return
        if now - self._lag_at < 1.0:
            return
        self._lag_at = now
        try:
            await self.lag()
        except Exception as exc:  # noqa: BLE001 - a metric, not worth failing for
            log.debug("consumer_lag_failed", consumer=self.name, error=repr(exc))

    # -- one active process per durable (module doc) -----------------------------------------

    @property
    def is_active(self) -> bool:
        return self.lease.held

    async def _hold_lease(self) -> bool:
        """Take or renew the lease (a real renewal at most every third of its TTL); True while
        held. On taking it, the durable is reconciled with the position first (a new
        subscription). The fence (``self.lease.fence``) is the last statement of each commit: a
        holder paused inside a handler keeps no lease row locked, is replaced, and finds out there."""
        was = self.lease.held
        held = await self.lease.hold()
        if held and not was and self.lease.supported:
            await self._drop_subscription()
        return held

    async def _drop_subscription(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - connection may be gone
                pass

    async def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))


def _stream_created(info: Any) -> str | None:
    """The stream's creation time as JetStream reports it: the same stream always gives the same
    text, a stream deleted and made again another."""
    created = getattr(info, "created", None)
    if created is None:
        return None
    return created.isoformat() if hasattr(created, "isoformat") else str(created)


def describe_error(exc: BaseException) -> str:
    """What went wrong, without the values that were wrong: a validation error names the fields
    and the rules, never the input (it may be a person's name or address; the text goes to the
    dead letter's header and to the logs)."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}"
                             for error in exc.errors(include_input=False, include_url=False, include_context=False))
        return f"{type(exc).__name__}: {exc.error_count()} error(s): {problems}"
    return f"{type(exc).__name__}: {exc}"


def _header_value(text: str, limit: int = 2000) -> str:
    """NATS header values are one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
