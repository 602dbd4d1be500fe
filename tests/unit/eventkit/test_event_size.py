"""How the kit counts an event's size on the bus, and how EVENT_MAX_BYTES is read (no server)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from eventkit.settings import ServiceSettings
from eventkit.store import (
    DEFAULT_EVENT_MAX_BYTES,
    HEADER_BOUND,
    EventTooLarge,
    check_event_sizes,
    event_bus_size,
    largest_field,
    nats_message_size,
)
from jumelage_contracts import Envelope
from jumelage_contracts.envelope import Actor, Role


def an_event(**data) -> Envelope:
    return Envelope(type="OfferPublished", source="candidatures", stream_id="offer-1",
                    occurred_at=datetime.now(timezone.utc), correlation_id=uuid.uuid4(),
                    causation_id=uuid.uuid4(), actor=Actor(role=Role.partner, id="partenaire-é"),
                    academie="paris", data=data)


def test_the_size_counts_the_nats_header_block_as_the_client_encodes_it() -> None:
    # NATS/1.0\r\n, then "Key: value\r\n" per header (values in UTF-8), a blank line, the body
    assert nats_message_size({"A": "é"}, b"xyz") == len(b"NATS/1.0\r\n") + len("A: ".encode() + "é".encode() + b"\r\n") \
        + 2 + 3


def test_the_size_before_storing_is_never_below_the_size_once_stored() -> None:
    event = an_event(title="Ateliers")
    stored = event.model_copy(update={"stream_version": 3, "position": 12345,
                                      "recorded_at": datetime.now(timezone.utc)})
    assert event_bus_size(event) >= nats_message_size(*stored.to_nats())
    assert nats_message_size(*stored.to_nats()[:1], b"") <= HEADER_BOUND


def test_the_largest_field_is_the_one_to_shorten() -> None:
    assert largest_field({"title": "court", "resources": ["x" * 50], "levels": ["CM1"]}) == "resources"
    assert largest_field({}) is None


def test_an_event_over_the_limit_is_refused_with_its_type_size_and_largest_field() -> None:
    try:
        check_event_sizes("offer-1", [an_event(title="t", resources="r" * 5000)], 4096)
    except EventTooLarge as refused:
        assert (refused.event_type, refused.field, refused.limit) == ("OfferPublished", "resources", 4096)
        assert refused.size > 5000 and "resources" in str(refused)
    else:
        raise AssertionError("a 5 KB event passed a 4 KiB limit")
    check_event_sizes("offer-1", [an_event(resources="r" * 5000)], None)  # no limit: no check


def test_event_max_bytes_is_read_per_service_and_zero_turns_the_check_off() -> None:
    assert ServiceSettings.from_env("candidatures", env={}).event_max_bytes == DEFAULT_EVENT_MAX_BYTES
    assert ServiceSettings.from_env("candidatures", env={"EVENT_MAX_BYTES": "0"}).event_max_bytes == 0
    assert ServiceSettings.from_env("candidatures", env={"EVENT_MAX_BYTES": "9000",
                                                         "CANDIDATURES_EVENT_MAX_BYTES": "4096"}).event_max_bytes == 4096
