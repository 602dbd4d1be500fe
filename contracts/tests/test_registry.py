"""The event registry: the discriminated union, the upcaster chain and parse errors.

Models here are test-local and registered in a scratch registry (see conftest), so the real
contracts never see them. No ``from __future__ import annotations``: pydantic must resolve the
``Literal`` of models defined inside test functions.
"""

import uuid
from datetime import datetime, timezone
from typing import Literal, get_args

import pytest
from pydantic import ValidationError

from jumelage_contracts import registry
from jumelage_contracts.registry import (
    EVENTS,
    EventData,
    UnknownEventType,
    UnsupportedSchemaVersion,
    any_event_adapter,
    event,
    missing_upcasters,
    model_for,
    parse_event,
    to_envelope,
    upcaster,
    validate_any,
)

NOW = datetime(2025, 9, 1, 8, 30, tzinfo=timezone.utc)


def envelope_of(event_type: str, version: int, data: dict):
    return registry.Envelope(
        type=event_type, schema_version=version, source="testing", stream_id="thing-1",
        occurred_at=NOW, correlation_id=uuid.uuid4(), data=data,
    )


def register_three_versions():
    """GuestInvited: v1 {name}; v2 split name into first/last; v3 added a default seat count."""

    @event("testing", version=3)
    class GuestInvited(EventData):
        type: Literal["GuestInvited"] = "GuestInvited"
        first_name: str
        last_name: str
        seats: int

    @upcaster("GuestInvited", 1)
    def upcast_v1_to_v2(data):
        first, _, last = data.pop("name").partition(" ")
        return {**data, "first_name": first, "last_name": last}

    @upcaster("GuestInvited", 2)
    def upcast_v2_to_v3(data):
        return {**data, "seats": 1}

    return GuestInvited


def test_every_registered_event_declares_its_own_name_as_type():
    for name, model in registry.load_all().items():
        assert model.model_fields["type"].default == name
        assert model.event_type() == name


def test_every_real_event_has_a_complete_upcaster_chain():
    assert missing_upcasters() == []


def test_a_v1_payload_is_read_as_the_v3_model_through_the_chain(scratch_registry):
    GuestInvited = register_three_versions()
    stored = {"type": "GuestInvited", "name": "Ada Lovelace"}
    read = parse_event(envelope_of("GuestInvited", 1, stored))
    assert read == GuestInvited(first_name="Ada", last_name="Lovelace", seats=1)
    assert stored == {"type": "GuestInvited", "name": "Ada Lovelace"}, "the stored payload is never rewritten"


def test_a_v2_payload_goes_through_the_last_step_only(scratch_registry):
    register_three_versions()
    read = parse_event(envelope_of("GuestInvited", 2, {"first_name": "Ada", "last_name": "L"}))
    assert (read.first_name, read.seats) == ("Ada", 1)


def test_a_current_payload_is_read_without_upcasting(scratch_registry):
    register_three_versions()
    read = parse_event(envelope_of("GuestInvited", 3, {"first_name": "A", "last_name": "B", "seats": 4}))
    assert read.seats == 4


def test_a_payload_newer_than_the_code_is_refused(scratch_registry):
    register_three_versions()
    with pytest.raises(UnsupportedSchemaVersion, match="newer"):
        parse_event(envelope_of("GuestInvited", 4, {}))


def test_a_gap_in_the_chain_is_reported_and_refused(scratch_registry):
    @event("testing", version=2)
    class SeatFreed(EventData):
        type: Literal["SeatFreed"] = "SeatFreed"

    assert ("SeatFreed", 1) in missing_upcasters()
    with pytest.raises(UnsupportedSchemaVersion, match="no upcaster"):
        parse_event(envelope_of("SeatFreed", 1, {}))


def test_an_unknown_type_is_refused():
    with pytest.raises(UnknownEventType):
        parse_event(envelope_of("NoSuchThingHappened", 1, {}))
    with pytest.raises(UnknownEventType):
        model_for("NoSuchThingHappened")


def test_an_invalid_payload_raises_pydantic_validation_error(scratch_registry):
    register_three_versions()
    with pytest.raises(ValidationError) as info:
        parse_event(envelope_of("GuestInvited", 3, {"first_name": "A", "last_name": "B", "seats": "many"}))
    assert info.value.errors()[0]["loc"] == ("seats",)
    # All three refusals are ValueErrors, so a consumer can dead-letter them with one except.
    assert issubclass(UnknownEventType, ValueError) and issubclass(UnsupportedSchemaVersion, ValueError)
    assert issubclass(ValidationError, ValueError)


def test_unknown_fields_are_tolerated(scratch_registry):
    register_three_versions()
    read = parse_event(envelope_of("GuestInvited", 3, {"first_name": "A", "last_name": "B", "seats": 2, "vip": True}))
    assert not hasattr(read, "vip")


def test_a_model_without_its_type_literal_is_refused_at_registration(scratch_registry):
    with pytest.raises(TypeError, match="Literal"):

        @event("testing")
        class Forgetful(EventData):
            type: Literal["SomethingElse"] = "SomethingElse"


def test_a_type_registered_twice_is_refused(scratch_registry):
    register_three_versions()
    with pytest.raises(ValueError, match="twice"):

        @event("testing")
        class GuestInvited(EventData):
            type: Literal["GuestInvited"] = "GuestInvited"


def test_the_union_dispatches_on_type_and_follows_the_registry(scratch_registry):
    GuestInvited = register_three_versions()

    @event("testing")
    class GuestLeft(EventData):
        type: Literal["GuestLeft"] = "GuestLeft"
        reason: str = ""

    members = get_args(get_args(registry.AnyEvent)[0])
    assert GuestInvited in members and GuestLeft in members
    assert set(EVENTS.values()) == set(members)
    assert isinstance(validate_any({"type": "GuestLeft"}), GuestLeft)
    assert isinstance(validate_any(b'{"type":"GuestInvited","first_name":"a","last_name":"b","seats":1}'), GuestInvited)
    with pytest.raises(ValidationError):
        validate_any({"type": "NoSuchThingHappened"})
    schema = any_event_adapter().json_schema()
    assert schema["discriminator"]["propertyName"] == "type"


def test_the_union_forgets_scratch_models_once_they_are_unregistered(scratch_registry):
    register_three_versions()
    assert "GuestInvited" in str(registry.AnyEvent)
    EVENTS.pop("GuestInvited")
    assert "GuestInvited" not in str(registry.AnyEvent)


def test_to_envelope_stamps_type_version_and_source_and_round_trips(scratch_registry):
    GuestInvited = register_three_versions()
    data = GuestInvited(first_name="A", last_name="B", seats=2)
    env = to_envelope(data, stream_id="guest-1", occurred_at=NOW, correlation_id=uuid.uuid4(), academie="paris")
    assert (env.type, env.schema_version, env.source, env.academie) == ("GuestInvited", 3, "testing", "paris")
    assert parse_event(env) == data
