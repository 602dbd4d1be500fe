"""Issue 16's leftover: an identity provider whose subject is the user's e-mail (``sub`` or
``preferred_username``) must not put that address in clear into every event's actor, its NATS
header and the events table, where no erasure reaches it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from jumelage_contracts import Envelope, Role
from eventkit.auth import principal_from_claims


def envelope_by(actor) -> Envelope:
    return Envelope(type="PersonErased", source="programmes", stream_id="person:x", stream_version=1,
                    occurred_at=datetime(2027, 1, 1, tzinfo=timezone.utc), correlation_id=uuid.uuid4(),
                    actor=actor, data={"person_id": "x", "erased_at": "2027-01-01T00:00:00Z"})


def test_an_e_mail_subject_is_pseudonymised_in_the_actor_and_its_header() -> None:
    jeanne = principal_from_claims({"sub": "Jeanne.Vauquelin@ac-paris.fr", "role": "admin"}, "role", "scope")
    again = principal_from_claims({"preferred_username": "jeanne.vauquelin@ac-paris.fr", "role": "admin"},
                                  "role", "scope")
    other = principal_from_claims({"sub": "paul@ac-paris.fr", "role": "admin"}, "role", "scope")
    headers, body = envelope_by(jeanne.actor).to_nats()
    assert "vauquelin" not in str(headers).lower() and b"vauquelin" not in body.lower()
    assert "@" not in jeanne.actor.id and jeanne.actor.role == Role.admin
    assert jeanne.actor == again.actor != other.actor  # the same person reads as the same actor
    assert jeanne.subject == "Jeanne.Vauquelin@ac-paris.fr"  # who is logged in is still known here


def test_an_opaque_subject_stays_the_actor_id() -> None:
    school = principal_from_claims({"sub": "4f1c-uuid", "role": "school", "scope": "0750655E"}, "role", "scope")
    assert school.actor.id == "4f1c-uuid"
