"""The envelope every event travels in, and how it is carried on NATS (headers + JSON body).

On the bus the envelope's metadata rides in NATS headers (so a consumer can route, dedupe and
dead-letter without parsing the body) and the event's ``data`` is the JSON body.
``Nats-Msg-Id`` is the event id, which makes JetStream drop a re-published duplicate inside its
deduplication window; consumers dedupe the rest by event id.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Role(str, Enum):
    """Who acts. The scope of a token depends on the role (UAI, partner id, académie code)."""

    school = "school"
    partner = "partner"
    academie = "academie"
    national = "national"
    admin = "admin"
    system = "system"


# Values that ride in NATS headers must not contain control characters (a CR/LF would end the
# header) nor start or end with whitespace (the NATS client strips it, so the value would not come
# back as sent); values that are subject tokens must not contain '.', '*', '>' or whitespace.
HEADER_SAFE = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
TOKEN_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class Actor(BaseModel):
    """Who caused the event: a role and an id within it (a UAI, a partner id, a user, a service)."""

    model_config = ConfigDict(frozen=True)

    role: Role
    id: str = Field(min_length=1, max_length=200, pattern=HEADER_SAFE)


SYSTEM = Actor(role=Role.system, id="jumelage")


class Header:
    """NATS header names of the envelope."""

    MSG_ID = "Nats-Msg-Id"
    TYPE = "Jumelage-Type"
    SCHEMA_VERSION = "Jumelage-Schema-Version"
    SOURCE = "Jumelage-Source"
    STREAM_ID = "Jumelage-Stream-Id"
    STREAM_VERSION = "Jumelage-Stream-Version"
    OCCURRED_AT = "Jumelage-Occurred-At"
    RECORDED_AT = "Jumelage-Recorded-At"
    CORRELATION_ID = "Jumelage-Correlation-Id"
    CAUSATION_ID = "Jumelage-Causation-Id"
    ACTOR_ROLE = "Jumelage-Actor-Role"
    ACTOR_ID = "Jumelage-Actor-Id"
    ACADEMIE = "Jumelage-Academie"
    POSITION = "Jumelage-Position"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Envelope(BaseModel):
    """One event as stored and as published.

    ``data`` is the event payload as a plain dict, exactly as written at ``schema_version``;
    ``jumelage_contracts.registry.parse_event`` turns it into the current typed model (upcasting
    older versions). ``position`` is the producing store's global position (set once stored).
    """

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(min_length=1, max_length=100, pattern=TYPE_PATTERN)
    schema_version: int = Field(default=1, ge=1)
    source: str = Field(min_length=1, max_length=50, pattern=TOKEN_PATTERN)
    stream_id: str = Field(min_length=1, max_length=200, pattern=HEADER_SAFE)
    stream_version: int = Field(default=0, ge=0)
    occurred_at: datetime
    recorded_at: datetime | None = None
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    actor: Actor = SYSTEM
    academie: str | None = Field(default=None, max_length=50, pattern=TOKEN_PATTERN)
    data: dict[str, Any] = Field(default_factory=dict)
    position: int | None = None

    @field_validator("occurred_at", "recorded_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value

    # -- NATS carriage ------------------------------------------------------------------------

    def to_nats(self) -> tuple[dict[str, str], bytes]:
        """Headers and body for a NATS publish."""
        headers = {
            Header.MSG_ID: str(self.id),
            Header.TYPE: self.type,
            Header.SCHEMA_VERSION: str(self.schema_version),
            Header.SOURCE: self.source,
            Header.STREAM_ID: self.stream_id,
            Header.STREAM_VERSION: str(self.stream_version),
            Header.OCCURRED_AT: self.occurred_at.isoformat(),
            Header.CORRELATION_ID: str(self.correlation_id),
            Header.ACTOR_ROLE: self.actor.role.value,
            Header.ACTOR_ID: self.actor.id,
        }
        if self.recorded_at is not None:
            headers[Header.RECORDED_AT] = self.recorded_at.isoformat()
        if self.causation_id is not None:
            headers[Header.CAUSATION_ID] = str(self.causation_id)
        if self.academie is not None:
            headers[Header.ACADEMIE] = self.academie
        if self.position is not None:
            headers[Header.POSITION] = str(self.position)
        body = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False, default=str)
        return headers, body.encode("utf-8")

    @classmethod
    def from_nats(cls, headers: Mapping[str, str] | None, body: bytes) -> "Envelope":
        """Rebuild an envelope from a NATS message; raises ``ValueError`` when it is malformed."""
        h = dict(headers or {})
        missing = [
            name
            for name in (Header.MSG_ID, Header.TYPE, Header.SOURCE, Header.STREAM_ID,
                         Header.OCCURRED_AT, Header.CORRELATION_ID)
            if not h.get(name)
        ]
        if missing:
            raise ValueError(f"missing envelope headers: {', '.join(missing)}")
        try:
            data = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        return cls.model_validate(
            {
                "id": h[Header.MSG_ID],
                "type": h[Header.TYPE],
                "schema_version": h.get(Header.SCHEMA_VERSION, "1"),
                "source": h[Header.SOURCE],
                "stream_id": h[Header.STREAM_ID],
                "stream_version": h.get(Header.STREAM_VERSION, "0"),
                "occurred_at": h[Header.OCCURRED_AT],
                "recorded_at": h.get(Header.RECORDED_AT),
                "correlation_id": h[Header.CORRELATION_ID],
                "causation_id": h.get(Header.CAUSATION_ID),
                "actor": {"role": h.get(Header.ACTOR_ROLE, "system"), "id": h.get(Header.ACTOR_ID, "unknown")},
                "academie": h.get(Header.ACADEMIE),
                "data": data,
                "position": h.get(Header.POSITION),
            }
        )
