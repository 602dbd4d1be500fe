"""The dead-letter stream, for operators: list what was dead-lettered and why, and send it back.

A consumer dead-letters a message it could not decode or whose handler kept failing
(``Consumer._dead_letter``): the original body and headers go to
``<root>.deadletter.<consumer>`` with the error and where the message came from. Once the cause
is fixed (a handler bug deployed, a missing reference loaded), :func:`replay` publishes the
original again on its original subject and removes the dead letter. Every consumer of that
stream sees it again; those that had applied it skip it (their inbox holds its event id), the one
that dead-lettered it applies it now.

A dead letter too large for NATS's ``max_payload`` was *truncated* (``Jumelage-Truncated``): it
holds the first KiB of the body, the original's size and SHA-256, stream and sequence. Replaying
it reads the original from its own stream by sequence (where it stays until the stream's limits
drop it), checks its SHA-256 and publishes that; an original already gone is reported, and the
dead letter kept.

Listing never fails on what it finds: an entry whose headers are missing or unreadable (written
by hand, by another tool, or damaged) is listed as ``malformed`` with what could be read, and
replay leaves it alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError

from jumelage_contracts.subjects import DEFAULT_ROOT, dead_letter_stream, dead_letter_subject

from .connection import NatsConnection
from .consumer import DeadLetterHeader, server_headers

_DEAD_LETTER_HEADERS = {value for name, value in vars(DeadLetterHeader).items() if name.isupper()}
_MSG_ID = "Nats-Msg-Id"


@dataclass(frozen=True)
class DeadLetter:
    seq: int  # in the dead-letter stream
    consumer: str
    error_type: str
    error: str
    original_subject: str
    original_stream: str
    original_seq: int
    attempts: int
    dead_lettered_at: str
    data: bytes
    original_headers: dict[str, str] = field(default_factory=dict)
    truncated: bool = False  # ``data`` is the first KiB; the original is at original_stream/original_seq
    original_size: int = 0
    original_sha256: str = ""
    malformed: str = ""  # why this entry is not a readable dead letter ("" when it is)

    @classmethod
    def from_raw(cls, raw: Any) -> "DeadLetter":
        """Read one stored entry; never raises on its content (see ``malformed``)."""
        problems: list[str] = []
        try:
            headers = {str(k): str(v) for k, v in dict(raw.headers or {}).items()}
        except Exception:  # noqa: BLE001 - whatever the server handed back
            headers, problems = {}, ["unreadable headers"]

        def number(name: str) -> int:
            value = headers.get(name, "")
            try:
                return int(value or 0)
            except ValueError:
                problems.append(f"{name}={value[:40]!r}")
                return 0

        original = {k: v for k, v in headers.items() if k not in _DEAD_LETTER_HEADERS and k != _MSG_ID}
        if DeadLetterHeader.ORIGINAL_MSG_ID in headers:
            original[_MSG_ID] = headers[DeadLetterHeader.ORIGINAL_MSG_ID]
        letter = dict(
            seq=getattr(raw, "seq", 0) or 0,
            consumer=headers.get(DeadLetterHeader.CONSUMER) or str(getattr(raw, "subject", "") or "").rsplit(".", 1)[-1],
            error_type=headers.get(DeadLetterHeader.ERROR_TYPE, ""),
            error=headers.get(DeadLetterHeader.ERROR, ""),
            original_subject=headers.get(DeadLetterHeader.ORIGINAL_SUBJECT, ""),
            original_stream=headers.get(DeadLetterHeader.ORIGINAL_STREAM, ""),
            original_seq=number(DeadLetterHeader.STREAM_SEQUENCE),
            attempts=number(DeadLetterHeader.ATTEMPTS),
            dead_lettered_at=headers.get(DeadLetterHeader.DEAD_LETTERED_AT, ""),
            data=raw.data or b"",
            original_headers=original,
            truncated=headers.get(DeadLetterHeader.TRUNCATED, "").lower() == "true",
            original_size=number(DeadLetterHeader.ORIGINAL_SIZE),
            original_sha256=headers.get(DeadLetterHeader.ORIGINAL_SHA256, ""),
        )
        if not letter["original_subject"]:
            problems.append(f"no {DeadLetterHeader.ORIGINAL_SUBJECT}")
        if letter["truncated"] and not (letter["original_stream"] and letter["original_seq"]):
            problems.append("truncated without the original's stream and sequence")
        return cls(**letter, malformed="; ".join(problems))


async def list_dead_letters(nats: NatsConnection, root: str = DEFAULT_ROOT, consumer: str | None = None,
                            from_seq: int = 1, limit: int = 100) -> list[DeadLetter]:
    """Dead letters in stream order from ``from_seq``, of one consumer or of all."""
    js = nats.js
    assert js is not None
    stream = dead_letter_stream(root)
    subject = dead_letter_subject(consumer, root) if consumer else dead_letter_subject("*", root)
    found: list[DeadLetter] = []
    seq = max(1, from_seq)
    while len(found) < limit:
        try:
            raw = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            break
        except Exception as exc:  # noqa: BLE001 - an entry the client cannot even parse
            unreadable = await _unreadable_at(js, stream, seq, exc)
            if unreadable is not None:
                found.append(unreadable)
            seq += 1
            continue
        found.append(DeadLetter.from_raw(raw))
        seq = raw.seq + 1
    return found


async def _unreadable_at(js: Any, stream: str, seq: int, error: Exception) -> DeadLetter | None:
    """The entry at exactly ``seq`` as a malformed dead letter, if that is the one that failed."""
    try:
        await js.get_msg(stream, seq=seq)
    except NotFoundError:
        return None
    except Exception:  # noqa: BLE001 - this is the one
        return DeadLetter(seq=seq, consumer="", error_type="", error="", original_subject="", original_stream="",
                          original_seq=0, attempts=0, dead_lettered_at="", data=b"",
                          malformed=f"unreadable entry: {type(error).__name__}: {str(error)[:200]}")
    return None


@dataclass(frozen=True)
class Replayed:
    seq: int
    subject: str
    # "replayed"; "too_soon": JetStream still remembers the original's id (the stream's duplicate
    # window has not passed since it was first published) and dropped the copy, so the dead
    # letter is kept — replay it later; "missing": no such dead letter (already replayed?);
    # "malformed": the entry does not say what to send where (see ``list``), kept;
    # "original_gone": a truncated dead letter whose original its stream no longer holds (or
    # holds changed), kept
    outcome: str


async def replay(nats: NatsConnection, seqs: list[int], root: str = DEFAULT_ROOT) -> list[Replayed]:
    """Publish each dead letter's original, headers and body as they were (its ``Nats-Msg-Id`` is
    the event id, which the envelope is read from; ``Nats-*`` headers the server acts on are not
    sent), on its original subject; then delete the dead letter. A truncated dead letter's
    original is read from its stream by sequence (module doc). A crash between the publish and
    the delete leaves the dead letter: replaying it again is harmless, the consumers skip an
    event id they already applied."""
    js = nats.js
    assert js is not None
    stream = dead_letter_stream(root)
    results: list[Replayed] = []
    for seq in seqs:
        try:
            letter = DeadLetter.from_raw(await js.get_msg(stream, seq=seq))
        except NotFoundError:
            results.append(Replayed(seq, "", "missing"))
            continue
        if letter.malformed:
            results.append(Replayed(seq, letter.original_subject, "malformed"))
            continue
        data, headers = letter.data, dict(letter.original_headers)
        if letter.truncated:
            original = await _original_of(js, letter)
            if original is None:
                results.append(Replayed(seq, letter.original_subject, "original_gone"))
                continue
            data, headers = original
        msg_id = headers.pop(_MSG_ID, None)
        headers = server_headers(headers)
        if msg_id:
            headers[_MSG_ID] = msg_id
        ack = await js.publish(letter.original_subject, data, headers=headers or None)
        if ack.duplicate:
            results.append(Replayed(seq, letter.original_subject, "too_soon"))
            continue
        await js.delete_msg(stream, seq)
        results.append(Replayed(seq, letter.original_subject, "replayed"))
    return results


async def _original_of(js: Any, letter: DeadLetter) -> tuple[bytes, dict[str, str]] | None:
    """The body and headers of a truncated dead letter's original, from its stream; None when
    the stream no longer holds it, or holds something else at that sequence."""
    try:
        raw = await js.get_msg(letter.original_stream, seq=letter.original_seq)
    except NotFoundError:
        return None
    data = raw.data or b""
    if letter.original_sha256 and hashlib.sha256(data).hexdigest() != letter.original_sha256:
        return None
    return data, dict(raw.headers or {})
