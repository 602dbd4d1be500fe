"""The dead-letter stream, for operators: list what was dead-lettered and why, and send it back.

A consumer dead-letters a message it could not decode or whose handler kept failing
(``Consumer._dead_letter``): the original body and headers go to
``<root>.deadletter.<consumer>`` with the error and where the message came from. Once the cause
is fixed (a handler bug deployed, a missing reference loaded), :func:`replay` publishes the
original again on its original subject and removes the dead letter. Every consumer of that
stream sees it again; those that had applied it skip it (their inbox holds its event id), the one
that dead-lettered it applies it now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nats.js.errors import NotFoundError

from jumelage_contracts.subjects import DEFAULT_ROOT, dead_letter_stream, dead_letter_subject

from .connection import NatsConnection
from .consumer import DeadLetterHeader

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

    @classmethod
    def from_raw(cls, raw: Any) -> "DeadLetter":
        headers = dict(raw.headers or {})
        original = {k: v for k, v in headers.items() if k not in _DEAD_LETTER_HEADERS and k != _MSG_ID}
        if DeadLetterHeader.ORIGINAL_MSG_ID in headers:
            original[_MSG_ID] = headers[DeadLetterHeader.ORIGINAL_MSG_ID]
        return cls(
            seq=raw.seq,
            consumer=headers.get(DeadLetterHeader.CONSUMER, raw.subject.rsplit(".", 1)[-1]),
            error_type=headers.get(DeadLetterHeader.ERROR_TYPE, ""),
            error=headers.get(DeadLetterHeader.ERROR, ""),
            original_subject=headers.get(DeadLetterHeader.ORIGINAL_SUBJECT, ""),
            original_stream=headers.get(DeadLetterHeader.ORIGINAL_STREAM, ""),
            original_seq=int(headers.get(DeadLetterHeader.STREAM_SEQUENCE, 0) or 0),
            attempts=int(headers.get(DeadLetterHeader.ATTEMPTS, 0) or 0),
            dead_lettered_at=headers.get(DeadLetterHeader.DEAD_LETTERED_AT, ""),
            data=raw.data or b"",
            original_headers=original,
        )


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
        found.append(DeadLetter.from_raw(raw))
        seq = raw.seq + 1
    return found


@dataclass(frozen=True)
class Replayed:
    seq: int
    subject: str
    # "replayed"; "too_soon": JetStream still remembers the original's id (the stream's duplicate
    # window has not passed since it was first published) and dropped the copy, so the dead
    # letter is kept — replay it later; "missing": no such dead letter (already replayed?)
    outcome: str


async def replay(nats: NatsConnection, seqs: list[int], root: str = DEFAULT_ROOT) -> list[Replayed]:
    """Publish each dead letter's original, headers and body as they were (its ``Nats-Msg-Id`` is
    the event id, which the envelope is read from), on its original subject; then delete the
    dead letter. A crash between the two leaves the dead letter: replaying it again is harmless,
    the consumers skip an event id they already applied."""
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
        if not letter.original_subject:
            raise ValueError(f"dead letter {seq} does not say where it came from")
        ack = await js.publish(letter.original_subject, letter.data, headers=letter.original_headers or None)
        if ack.duplicate:
            results.append(Replayed(seq, letter.original_subject, "too_soon"))
            continue
        await js.delete_msg(stream, seq)
        results.append(Replayed(seq, letter.original_subject, "replayed"))
    return results
