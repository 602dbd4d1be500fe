"""Crypto-shredding of personal data (RGPD articles 5 and 17): erase a person from an append-only
system without touching the history.

Every value the contracts mark personal (``x-personal``, ``jumelage_contracts.personal``) is
sealed with AES-GCM (``cryptography``) under its *subject*'s key before the event is stored, so
the store, the outbox and the JetStream streams (dead letters included) only ever hold
ciphertext. The subject is the person whose id the field names (``x-personal-subject``: a
ReferentDesignated's ``referent_id``, a reminder recipient's ``person_id``), else the event's
stream (free text, a signatory's name). A sealed value is
``{"$sealed": <nonce + ciphertext, base64>, "subject": <id>, "shape": "text"|"email"|<n names>}``;
its shape lets an erased value read as a placeholder of the same shape (« personne effacée »,
:data:`~jumelage_contracts.personal.ERASED_EMAIL`, a list of as many placeholders), so counts do
not change.

Keys. One random 256-bit key per (owner, subject), in the ``personal_keys`` table of the owner's
database (migration ``eventkit_0006``), never in an event. A consumer that meets a sealed value
of another service asks the owner over a NATS request (``<root>.keys.<owner>``: core NATS,
never stored in a stream) and keeps a copy in its own ``personal_keys``. Erasing a subject sets
its key to NULL and leaves a tombstone: the owner (``PersonErased``) and every holder of a copy
(the kit's consumers, on that event) then read its values as placeholders, for good, and a
tombstoned subject is never given a key again.

The boundary. :class:`SealingStore` wraps the service's event store: ``append`` seals,
``read_stream`` opens (deciders and views see plaintext, or placeholders once erased), and
``read_all`` — what the relay publishes — returns what is stored. Consumers open what they
receive before parsing it (:meth:`Keyring.open_envelope`). Domain code does not change.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, LargeBinary, MetaData, String, Table, and_, select, update

from jumelage_contracts import Envelope
from jumelage_contracts.personal import ERASED, ERASED_EMAIL, Leaf, Plan, personal_plan

from .logging import get_logger
from .sql import UtcDateTime
from .store import NeedsTransaction

log = get_logger("eventkit.shredding")

SEALED = "$sealed"
NONCE_BYTES = 12
KEY_BITS = 256
STREAM_SUBJECT = "stream:"
"""Prefix of the subject of free text: ``stream:<stream_id>``."""

personal_keys = Table(
    "personal_keys", MetaData(),
    Column("owner", String(50), primary_key=True),
    Column("subject", String(300), primary_key=True),
    Column("key", LargeBinary(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("erased_at", UtcDateTime(), nullable=True),
)

KeyFetcher = Callable[[str, str], Awaitable[bytes | None]]
"""``(owner, subject) -> key`` (None: the owner erased it); raises :class:`KeyUnavailable`."""


class KeyUnavailable(ConnectionError):
    """The owner of a key could not be asked (down, no answer): the message waits and is tried
    again, like any outage (a ``ConnectionError``: the consumer does not use up its attempts)."""


# -- sealing values (pure) ----------------------------------------------------------------------


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value


def _shape(value: Any) -> Any:
    if isinstance(value, list):
        return len(value)
    return "email" if isinstance(value, str) and "@" in value else "text"


def placeholder(sealed: dict) -> Any:
    """What a sealed value reads as once its key is gone."""
    shape = sealed.get("shape")
    if isinstance(shape, int):
        return [ERASED] * shape
    return ERASED_EMAIL if shape == "email" else ERASED


def seal_value(value: Any, subject: str, key: bytes) -> dict:
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    cipher = AESGCM(key).encrypt(nonce, plain, subject.encode("utf-8"))
    return {SEALED: base64.b64encode(nonce + cipher).decode("ascii"), "subject": subject, "shape": _shape(value)}


def open_value(sealed: dict, key: bytes | None) -> Any:
    if key is None:
        return placeholder(sealed)
    raw = base64.b64decode(sealed[SEALED])
    try:
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], str(sealed["subject"]).encode("utf-8"))
    except InvalidTag:
        return placeholder(sealed)
    return json.loads(plain)


def _walk(data: Any, plan: Plan, stream_subject: str, leaf: Callable[[Any, str], Any]) -> Any:
    """``data`` with every personal value ``v`` (per ``plan``) replaced by ``leaf(v, subject)``."""
    if isinstance(data, list):
        return [_walk(item, plan, stream_subject, leaf) for item in data]
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, part in plan.items():
        value = out.get(name)
        if value is None:
            continue
        if isinstance(part, Leaf):
            subject = out.get(part.subject_field) if part.subject_field else None
            out[name] = leaf(value, str(subject) if subject else stream_subject)
        else:
            out[name] = _walk(value, part, stream_subject, leaf)
    return out


def subjects_to_seal(event: Envelope) -> set[str]:
    found: set[str] = set()

    def note(value: Any, subject: str) -> Any:
        if not is_sealed(value):
            found.add(subject)
        return value

    _walk(event.data, personal_plan(event.type), STREAM_SUBJECT + event.stream_id, note)
    return found


def seal_data(event: Envelope, keys: dict[str, bytes | None]) -> Envelope:
    """``event`` with its personal values sealed with ``keys`` (a subject erased already: its
    values are written as placeholders, never in clear)."""

    def seal(value: Any, subject: str) -> Any:
        if is_sealed(value):
            return value
        key = keys.get(subject)
        return seal_value(value, subject, key) if key is not None else placeholder({"shape": _shape(value)})

    plan = personal_plan(event.type)
    if not plan:
        return event
    return event.model_copy(update={"data": _walk(event.data, plan, STREAM_SUBJECT + event.stream_id, seal)})


def sealed_subjects(data: Any) -> set[str]:
    """The subjects of every sealed value anywhere in ``data``."""
    if is_sealed(data):
        return {str(data.get("subject"))}
    if isinstance(data, dict):
        return set().union(*(sealed_subjects(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(sealed_subjects(v) for v in data)) if data else set()
    return set()


def open_data(data: Any, keys: dict[str, bytes | None]) -> Any:
    if is_sealed(data):
        return open_value(data, keys.get(str(data.get("subject"))))
    if isinstance(data, dict):
        return {k: open_data(v, keys) for k, v in data.items()}
    if isinstance(data, list):
        return [open_data(v, keys) for v in data]
    return data


# -- keys ---------------------------------------------------------------------------------------


class Keyring:
    """The ``personal_keys`` of one service: its own keys (``owner`` = the service) and copies of
    other owners' keys fetched with ``fetch``. Every method takes the SQLAlchemy connection of the
    transaction it belongs to (None for an in-memory store: a dict then stands for the table)."""

    def __init__(self, service: str, fetch: KeyFetcher | None = None) -> None:
        self.service = service
        self.fetch = fetch
        self._memory: dict[tuple[str, str], tuple[bytes | None, datetime | None]] = {}

    async def _rows(self, conn: Any, owner: str, subjects: Iterable[str]) -> dict[str, tuple[bytes | None, Any]]:
        wanted = sorted(set(subjects))
        if conn is None:
            return {s: self._memory[(owner, s)] for s in wanted if (owner, s) in self._memory}
        rows = (await conn.execute(select(personal_keys.c.subject, personal_keys.c.key, personal_keys.c.erased_at)
                                   .where(and_(personal_keys.c.owner == owner, personal_keys.c.subject.in_(wanted))))).all()
        return {r.subject: (r.key, r.erased_at) for r in rows}

    async def _insert(self, conn: Any, owner: str, subject: str, key: bytes | None, erased_at: datetime | None) -> None:
        now = datetime.now(timezone.utc)
        if conn is None:
            self._memory.setdefault((owner, subject), (key, erased_at))
            return
        from .sql import _upsert_insert

        insert = _upsert_insert(conn.dialect.name)
        await conn.execute(insert(personal_keys).values(owner=owner, subject=subject, key=key, created_at=now,
                                                        erased_at=erased_at).on_conflict_do_nothing())

    async def keys_for_writing(self, conn: Any, subjects: Iterable[str]) -> dict[str, bytes | None]:
        """This service's keys of ``subjects``, made for those that have none (None: erased)."""
        subjects = set(subjects)
        found = await self._rows(conn, self.service, subjects)
        keys: dict[str, bytes | None] = {s: found[s][0] for s in found}
        for subject in subjects - found.keys():
            keys[subject] = AESGCM.generate_key(bit_length=KEY_BITS)
            await self._insert(conn, self.service, subject, keys[subject], None)
        if len(subjects - found.keys()) and conn is not None:
            # another transaction may have made the same key first: read back the one that stayed
            stored = await self._rows(conn, self.service, subjects - found.keys())
            keys.update({s: stored[s][0] for s in stored})
        return keys

    async def keys_for_reading(self, conn: Any, owner: str, subjects: Iterable[str]) -> dict[str, bytes | None]:
        """The keys of ``subjects`` sealed by ``owner``: held here, else fetched from the owner and
        kept. None for an erased subject (or an own subject never given a key)."""
        subjects = set(subjects)
        found = await self._rows(conn, owner, subjects)
        keys: dict[str, bytes | None] = {s: found[s][0] for s in found}
        missing = subjects - found.keys()
        if owner == self.service or self.fetch is None:
            return {**keys, **{s: None for s in missing}}
        for subject in sorted(missing):
            key = await self.fetch(owner, subject)
            keys[subject] = key
            await self._insert(conn, owner, subject, key, None if key is not None else datetime.now(timezone.utc))
        return keys

    async def own_key(self, conn: Any, subject: str) -> tuple[bool, bytes | None]:
        """``(known, key)`` of one of this service's subjects (the key service's answer)."""
        found = await self._rows(conn, self.service, [subject])
        return (True, found[subject][0]) if subject in found else (False, None)

    async def erase(self, conn: Any, subject: str, owners: Sequence[str] | None = None) -> None:
        """Delete the keys of ``subject`` (this service's own, and the copies of every other
        owner's) and leave tombstones, so it is never made or fetched again."""
        now = datetime.now(timezone.utc)
        for owner in owners or [self.service]:
            await self._insert(conn, owner, subject, None, now)
        if conn is None:
            for (owner, s) in list(self._memory):
                if s == subject:
                    self._memory[(owner, s)] = (None, now)
            return
        await conn.execute(update(personal_keys).where(personal_keys.c.subject == subject)
                           .values(key=None, erased_at=now))

    # -- envelopes --------------------------------------------------------------------------

    async def seal(self, conn: Any, events: Sequence[Envelope]) -> list[Envelope]:
        wanted = set().union(*(subjects_to_seal(e) for e in events)) if events else set()
        if not wanted:
            return list(events)
        keys = await self.keys_for_writing(conn, wanted)
        return [seal_data(e, keys) for e in events]

    async def seal_payload(self, conn: Any, event_type: str, stream_id: str, data: dict) -> dict:
        """A raw payload of ``event_type`` with its personal values sealed under this service's
        keys (a dead letter's body: it may not even be a valid event)."""
        plan = personal_plan(event_type)
        wanted: set[str] = set()
        _walk(data, plan, STREAM_SUBJECT + stream_id, lambda v, s: v if is_sealed(v) else wanted.add(s))
        if not wanted:
            return data
        keys = await self.keys_for_writing(conn, wanted)
        return _walk(data, plan, STREAM_SUBJECT + stream_id,
                     lambda v, s: v if is_sealed(v) else seal_value(v, s, keys[s]) if keys.get(s) else placeholder({"shape": _shape(v)}))

    async def open_envelope(self, conn: Any, event: Envelope) -> Envelope:
        """``event`` with its sealed values in clear (placeholders where the key is gone)."""
        subjects = sealed_subjects(event.data)
        if not subjects:
            return event
        keys = await self.keys_for_reading(conn, event.source, subjects)
        return event.model_copy(update={"data": open_data(event.data, keys)})

    async def open_many(self, conn: Any, events: Sequence[Envelope]) -> list[Envelope]:
        return [await self.open_envelope(conn, e) for e in events]


# -- the store boundary -------------------------------------------------------------------------


class SealingTransaction:
    """A store transaction that seals what it appends and opens what it reads."""

    def __init__(self, inner: Any, keyring: Keyring) -> None:
        self._inner = inner
        self._keyring = keyring

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def append(self, stream_id: str, events: Sequence[Envelope], expected_version: int | None = None) -> Any:
        sealed = await self._keyring.seal(self._inner.connection, events)
        return await self._inner.append(stream_id, sealed, expected_version)

    async def append_many(self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]]) -> Any:
        conn = self._inner.connection
        work = [(stream_id, await self._keyring.seal(conn, events), expected)
                for stream_id, events, expected in appends]
        return await self._inner.append_many(work)

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        return await self._keyring.open_many(self._inner.connection, await self._inner.read_stream(stream_id, from_version))


class SealingStore:
    """The service's event store with personal values sealed on the way in and opened on the way
    out of ``read_stream``; ``read_all`` (the relay, republishing) gives them as stored. Every
    other attribute is the inner store's."""

    def __init__(self, inner: Any, keyring: Keyring) -> None:
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "keyring", keyring)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # settings the runtime or a test puts on "the store" (max_event_bytes…) are the inner one's
        setattr(self.inner, name, value)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SealingTransaction]:
        async with self.inner.transaction() as tx:
            yield SealingTransaction(tx, self.keyring)

    async def append(self, stream_id: str, events: Sequence[Envelope], expected_version: int | None = None) -> Any:
        if not any(subjects_to_seal(e) for e in events):
            return await self.inner.append(stream_id, events, expected_version)
        async with self.transaction() as tx:
            return await tx.append(stream_id, events, expected_version)

    async def append_with_rows(self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]],
                               rows: Any) -> Any:
        """The inner store's one-statement commit, the events sealed first: their keys are read
        (and made, for a new subject) on the store's autocommit reader, before the call. A key
        made for a commit that then fails stays unused, and is the one the next write of that
        subject takes."""
        inner = getattr(self.inner, "append_with_rows", None)
        if inner is None:
            raise NeedsTransaction("no one-statement commit on this store")
        if any(subjects_to_seal(e) for _, events, _ in appends for e in events):
            async with self.inner.reader.connect() as conn:
                appends = [(stream_id, await self.keyring.seal(conn, events), expected)
                           for stream_id, events, expected in appends]
        return await inner(appends, rows)

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        events = await self.inner.read_stream(stream_id, from_version)
        if not any(sealed_subjects(e.data) for e in events):
            return events
        async with self.inner.transaction() as tx:
            return await self.keyring.open_many(tx.connection, events)


def unwrap(store: Any) -> Any:
    """The store a :class:`SealingStore` wraps (or ``store`` itself)."""
    return store.inner if isinstance(store, SealingStore) else store


# -- the owners' key service (NATS request/reply) -----------------------------------------------


def key_subject(owner: str, root: str) -> str:
    return f"{root}.keys.{owner}"


class KeyService:
    """Answers the other services' requests for this service's keys on ``<root>.keys.<service>``
    (a queue group: any process of the service may answer). Core NATS request/reply: the key is
    never stored by the bus. Answers ``{"key": base64}``, ``{"erased": true}`` or ``{"unknown": true}``."""

    def __init__(self, store: Any, keyring: Keyring, nats: Any, root: str) -> None:
        self.store = unwrap(store)
        self.keyring = keyring
        self.nats = nats
        self.root = root
        self._sub: Any = None

    async def start(self) -> None:
        self.nats.on_connect("key-service", self._subscribe)

    async def _subscribe(self) -> None:
        nc = self.nats.nc
        if self._sub is not None and self._sub._conn is nc:
            return  # nats-py subscribes again by itself after a reconnect of the same client
        self._sub = await nc.subscribe(key_subject(self.keyring.service, self.root), queue="keys", cb=self._answer)

    async def _answer(self, msg: Any) -> None:
        try:
            subject = json.loads(msg.data)["subject"]
            async with self.store.transaction() as tx:
                known, key = await self.keyring.own_key(tx.connection, str(subject))
            answer = ({"key": base64.b64encode(key).decode("ascii")} if key is not None
                      else {"erased": True} if known else {"unknown": True})
        except Exception as exc:  # noqa: BLE001 - a bad request gets an answer, not a crash
            log.warning("key_request_failed", error=type(exc).__name__)
            answer = {"error": type(exc).__name__}
        await msg.respond(json.dumps(answer).encode())


def nats_key_fetcher(nats: Any, root: str, timeout: float = 5.0) -> KeyFetcher:
    """Ask an owner's :class:`KeyService` for a key over ``nats`` (an ``eventkit.bus.NatsConnection``)."""

    async def fetch(owner: str, subject: str) -> bytes | None:
        nc = getattr(nats, "nc", None)
        if nc is None or not nc.is_connected:
            raise KeyUnavailable(f"no NATS connection to ask {owner} for a key")
        try:
            reply = await nc.request(key_subject(owner, root), json.dumps({"subject": subject}).encode(), timeout=timeout)
            answer = json.loads(reply.data)
        except Exception as exc:  # noqa: BLE001 - no responder, timeout, a garbled answer: try later
            raise KeyUnavailable(f"{owner} did not give the key ({type(exc).__name__})") from exc
        if "key" in answer:
            return base64.b64decode(answer["key"])
        if answer.get("erased"):
            return None
        raise KeyUnavailable(f"{owner} does not know the subject ({sorted(answer)})")

    return fetch


# -- erasure ------------------------------------------------------------------------------------


async def erase_person(store: Any, person_id: str, *, source: str, now: datetime, reason: str = "request",
                       correlation_id: uuid.UUID | None = None) -> Envelope:
    """Delete ``person_id``'s keys in this service's store and record ``PersonErased`` (stream
    ``person:<id>``) in the same transaction; the relay publishes it and the other services
    delete their copies. Erasing twice records one event (its id is derived from the person)."""
    assert isinstance(store, SealingStore), "erasure needs the sealing store"
    async with store.transaction() as tx:
        event = await erase_person_in(tx, store.keyring, person_id, source=source, now=now, reason=reason,
                                      correlation_id=correlation_id)
    log.info("person_erased", person_id=person_id, reason=reason)
    return event


async def erase_person_in(tx: Any, keyring: Keyring, person_id: str, *, source: str, now: datetime,
                          reason: str = "request", correlation_id: uuid.UUID | None = None,
                          causation_id: uuid.UUID | None = None) -> Envelope:
    """:func:`erase_person` inside the caller's transaction (a consumer's: its inbox row and
    position commit with the erasure)."""
    from jumelage_contracts import to_envelope
    from jumelage_contracts.programmes import PersonErased

    event = to_envelope(PersonErased(person_id=person_id, reason=reason, erased_at=now),  # type: ignore[arg-type]
                        stream_id=f"person:{person_id}", occurred_at=now,
                        correlation_id=correlation_id or uuid.uuid4(), causation_id=causation_id,
                        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"jumelage:erased:{source}:{person_id}"))
    event = event.model_copy(update={"source": source})
    await keyring.erase(tx.connection, person_id)
    await tx.append(event.stream_id, [event], None)
    return event


async def erased_subjects(conn: Any, keyring: Keyring, subjects: Iterable[str]) -> set[str]:
    """Which of ``subjects`` this service has erased (a tombstone: key gone for good)."""
    found = await keyring._rows(conn, keyring.service, subjects)
    return {subject for subject, (key, erased_at) in found.items() if key is None and erased_at is not None}


# -- the one-off for events stored in clear before sealing existed -------------------------------


async def reseal_stored(store: Any, batch_size: int = 500) -> int:
    """Seal, in place, every personal value a SQL store holds in clear (events written before
    this module existed); returns how many events changed. Run once per service, its processes
    stopped, then purge its JetStream stream and republish it (README, "Personal data"). The
    event ids, versions and positions stay, so consumers skip what they applied (inbox)."""
    from .sql import events

    inner, keyrings = unwrap(store), {}
    after, changed = 0, 0
    while True:
        async with inner.transaction() as tx:
            conn = tx.connection
            rows = (await conn.execute(select(events.c.position, events.c.source, events.c.type, events.c.stream_id,
                                              events.c.data)
                                       .where(events.c.position > after).order_by(events.c.position)
                                       .limit(batch_size))).all()
            for row in rows:
                keyring = keyrings.setdefault(row.source, Keyring(row.source))  # the service's own, in practice
                sealed = await keyring.seal_payload(conn, row.type, row.stream_id, row.data)
                if sealed is not row.data and sealed != row.data:
                    await conn.execute(update(events).where(events.c.position == row.position).values(data=sealed))
                    changed += 1
        if not rows:
            return changed
        after = rows[-1].position
