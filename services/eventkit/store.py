"""Event store port: append with optimistic concurrency, read a stream, read the global log.

Implementations: ``eventkit.sql.SqlEventStore`` (PostgreSQL and SQLite, same code) and
``eventkit.memory.InMemoryEventStore`` (tests). All of them pass ``tests/unit/eventkit`` and
``tests/integration/eventkit`` store suites.

Positions are global to one store and strictly increasing, and a reader that tails
``read_all(after_position)`` never skips an event that commits late (SQL stores: see
``eventkit.sql``, where PostgreSQL's ``read_all`` holds back at a gap that a running transaction
may still fill).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncContextManager, Mapping, Protocol, Sequence

from jumelage_contracts import Envelope
from jumelage_contracts.envelope import Actor, Role

ANY_VERSION: int | None = None
NO_STREAM = 0

# The largest event a store accepts, counted as the relay will put it on the bus: NATS headers
# plus JSON body (``EVENT_MAX_BYTES`` overrides it). NATS refuses a message whose headers and body
# together exceed its max_payload (1 MiB by default); a dead letter carries the original's headers
# and body plus the consumer's own headers (the error among them), and a server may be configured
# below the default. Half of max_payload keeps every one of those copies publishable, and it is
# still two orders of magnitude above the largest event the services make (a few KiB).
DEFAULT_EVENT_MAX_BYTES = 512 * 1024

# What the store fills in after the size check (stream version, recording time, position),
# counted at its widest so that the check holds for the event as it will be published.
_WIDEST_STORED = {"stream_version": 2**63 - 1, "position": 2**63 - 1,
                  "recorded_at": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)}
_HEADER_LINE = len(b"NATS/1.0\r\n")


def nats_message_size(headers: Mapping[str, str], body: bytes) -> int:
    """Bytes NATS counts against max_payload: the encoded header block and the body (nats-py
    checks the body alone; the server checks both)."""
    size = _HEADER_LINE + 2 + len(body)  # status line, blank line ending the headers, body
    for key, value in headers.items():
        size += len(key) + len(value.encode("utf-8")) + 4  # "key: value\r\n"
    return size


def event_bus_size(event: Envelope, stream_id: str | None = None) -> int:
    """The size of ``event`` on the bus once stored in ``stream_id`` (see :func:`nats_message_size`)."""
    update: dict[str, Any] = {**_WIDEST_STORED, "stream_id": stream_id or event.stream_id}
    return nats_message_size(*event.model_copy(update=update).to_nats())


def _max_length(model: Any, name: str) -> int:
    return next(m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length"))


def _widest_header_block() -> int:
    """The largest header block any envelope can have: every optional header present and every
    value as long as the envelope's validation allows (4-byte characters where any are allowed)."""
    wide = "\U0001d11e"  # a 4-byte UTF-8 character that header-safe values accept
    widest = Envelope(
        type="T" * _max_length(Envelope, "type"), source="s" * _max_length(Envelope, "source"),
        stream_id=wide * _max_length(Envelope, "stream_id"), schema_version=2**63 - 1,
        occurred_at=_WIDEST_STORED["recorded_at"], correlation_id=uuid.uuid4(), causation_id=uuid.uuid4(),
        academie="a" * _max_length(Envelope, "academie"),
        actor=Actor(role=max(Role, key=lambda r: len(r.value)), id=wide * _max_length(Actor, "id")),
    ).model_copy(update=_WIDEST_STORED)
    return nats_message_size(widest.to_nats()[0], b"")


# ~2 KiB: an event whose body leaves this much room under the limit fits whatever its headers,
# so only events close to the limit pay for the exact count (the check is on the append path).
HEADER_BOUND = _widest_header_block()


class EventTooLarge(Exception):
    """An event would not fit on the bus (HTTP 413): refused before anything is written.

    ``field`` is the ``data`` field that takes the most room, the one to shorten."""

    def __init__(self, event_type: str, size: int, limit: int, field: str | None) -> None:
        where = f"; its largest field is {field!r}" if field else ""
        super().__init__(f"{event_type} would take {size} bytes on the bus, more than the {limit} "
                         f"allowed (EVENT_MAX_BYTES){where}")
        self.event_type = event_type
        self.size = size
        self.limit = limit
        self.field = field


def largest_field(data: Mapping[str, Any]) -> str | None:
    """The top-level key of ``data`` whose value serialises longest."""
    sizes = {key: len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
             for key, value in data.items()}
    return max(sizes, key=sizes.__getitem__) if sizes else None


def check_event_sizes(stream_id: str, events: Sequence[Envelope], limit: int | None,
                      bodies: Sequence[bytes] | None = None) -> None:
    """Raise :class:`EventTooLarge` for the first of ``events`` that would not fit on the bus.
    Every store calls it before it writes anything (``limit`` None: no bound). ``bodies``: the
    events' data already serialised as compact JSON, when the caller has it."""
    if limit is None:
        return
    for i, event in enumerate(events):
        body = (len(bodies[i]) if bodies is not None else
                len(json.dumps(event.data, separators=(",", ":"), ensure_ascii=False, default=str).encode()))
        if body + HEADER_BOUND <= limit:
            continue
        size = event_bus_size(event, stream_id)
        if size > limit:
            raise EventTooLarge(event.type, size, limit, largest_field(event.data))


class NeedsTransaction(Exception):
    """This write cannot be sent as one server-side statement (a row statement whose result the
    service reads, values to seal, a store without the call, a row the server refused): the
    caller commits it through a transaction instead, with the same outcome."""


class ConcurrencyError(Exception):
    """The stream is not at the version the command was decided on (HTTP 409)."""

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class AppendResult:
    stream_version: int
    positions: tuple[int, ...] = ()
    events: tuple[Envelope, ...] = ()
    duplicate: bool = False  # the events' ids were already stored: nothing was appended


class Transaction(Protocol):
    """One unit of work: appends, inbox marks, checkpoints and (SQL stores) the service's own rows
    commit or roll back together."""

    connection: Any  # sqlalchemy AsyncConnection for SQL stores, None in memory

    async def append(
        self, stream_id: str, events: Sequence[Envelope], expected_version: int | None = ANY_VERSION
    ) -> AppendResult: ...

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]]
    ) -> list[AppendResult]:
        """``append`` for each ``(stream_id, events, expected_version)``, same results, in as few
        statements as the store can (many one-event streams recorded at once)."""
        ...

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def mark_processed(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Record that ``consumer`` handled ``event_id``; False if it already had (skip it)."""
        ...

    async def get_checkpoint(self, name: str) -> int: ...

    async def set_checkpoint(self, name: str, position: int) -> None: ...

    # A durable consumer's position: the last stream sequence whose effects this transaction's
    # store holds, written with them (``eventkit.bus.consumer``).
    async def get_consumer_position(self, consumer: str, stream: str) -> tuple[int, str | None] | None:
        """``(position, stream_created)`` of ``consumer`` in ``stream``, None before its first."""
        ...

    async def advance_consumer_position(self, consumer: str, stream: str, position: int) -> None:
        """Raise the position to ``position`` (never lower it)."""
        ...

    async def reset_consumer_position(self, consumer: str, stream: str, position: int,
                                      stream_created: str | None) -> None:
        """Set the position and the stream it counts in, whatever it was."""
        ...

    async def hold_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Renew ``holder``'s unexpired lease ``name`` inside this transaction; False when it is
        not (or no longer) ``holder``'s. The fence of a lease holder's writes: the renewal
        commits with them, and on PostgreSQL it locks the lease row until then, so nobody can
        take the lease between this check and the commit."""
        ...


class EventStore(Protocol):
    async def append(
        self, stream_id: str, events: Sequence[Envelope], expected_version: int | None = ANY_VERSION
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` in one transaction.

        ``expected_version``: ``None`` accepts any version, ``0`` requires a new stream, ``n``
        requires the stream to be at ``n``; otherwise :class:`ConcurrencyError`. Appending events
        whose ids are already stored returns the stored result with ``duplicate=True``.
        """
        ...

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Envelope]:
        """Events with ``position > after_position`` in position order, at most ``limit``."""
        ...

    async def last_position(self) -> int: ...

    def transaction(self) -> AsyncContextManager[Transaction]: ...

    async def get_checkpoint(self, name: str) -> int: ...

    async def set_checkpoint(self, name: str, position: int) -> None:
        """Set a checkpoint in a transaction of its own (the relay after a batch is acked)."""
        ...

    async def acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_seconds``: True if it was free, expired or
        already ``holder``'s (one active relay per store even when two processes start)."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once, if ``holder`` has it."""
        ...

    async def close(self) -> None: ...


@dataclass
class Appended:
    """What a handler returns: the events it stored (for the HTTP response and the relay wake-up)."""

    stream_id: str
    version: int
    events: list[Envelope] = field(default_factory=list)
