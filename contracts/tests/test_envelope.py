"""The envelope on NATS: headers + JSON body, and back; malformed messages are ValueErrors."""

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jumelage_contracts.envelope import HEADER_SAFE, SYSTEM, Actor, Envelope, Header, Role
from jumelage_contracts.reference import Academie

NOW = datetime(2025, 9, 1, 8, 30, 15, 123456, tzinfo=timezone.utc)


def full_envelope(**overrides) -> Envelope:
    fields = dict(
        type="CampaignOpened", schema_version=2, source="candidatures", stream_id="campaign-42",
        stream_version=7, occurred_at=NOW, recorded_at=NOW + timedelta(milliseconds=3),
        correlation_id=uuid.uuid4(), causation_id=uuid.uuid4(),
        actor=Actor(role=Role.academie, id="paris"), academie="paris",
        data={"name": "Campagne été", "levels": ["5e", "4e"], "nested": {"n": 1.5, "none": None}},
        position=1234,
    )
    fields.update(overrides)
    return Envelope(**fields)


def test_a_full_envelope_survives_the_trip_through_nats_headers_and_body():
    env = full_envelope()
    headers, body = env.to_nats()
    assert headers[Header.MSG_ID] == str(env.id)
    assert all(isinstance(v, str) for v in headers.values())
    assert json.loads(body) == env.data
    assert Envelope.from_nats(headers, body) == env


def test_a_minimal_envelope_survives_the_trip_and_keeps_its_absent_fields_absent():
    env = Envelope(type="CampaignOpened", source="candidatures", stream_id="c-1",
                   occurred_at=NOW, correlation_id=uuid.uuid4())
    headers, body = env.to_nats()
    for optional in (Header.CAUSATION_ID, Header.RECORDED_AT, Header.ACADEMIE, Header.POSITION):
        assert optional not in headers
    back = Envelope.from_nats(headers, body)
    assert back == env and back.actor == SYSTEM and back.academie is None


def test_a_non_utc_offset_is_kept_on_the_trip():
    paris = timezone(timedelta(hours=2))
    env = full_envelope(occurred_at=datetime(2025, 9, 1, 10, 30, tzinfo=paris))
    back = Envelope.from_nats(*env.to_nats())
    assert back.occurred_at == env.occurred_at and back.occurred_at.utcoffset() == timedelta(hours=2)


def test_an_academie_enum_is_carried_as_its_slug():
    env = full_envelope(academie=Academie.la_reunion)
    headers, _ = env.to_nats()
    assert headers[Header.ACADEMIE] == "la-reunion"


@pytest.mark.parametrize(
    "header", [Header.MSG_ID, Header.TYPE, Header.SOURCE, Header.STREAM_ID, Header.OCCURRED_AT, Header.CORRELATION_ID]
)
def test_a_message_missing_a_required_header_is_a_value_error_naming_it(header):
    headers, body = full_envelope().to_nats()
    del headers[header]
    with pytest.raises(ValueError, match=header):
        Envelope.from_nats(headers, body)


def test_a_message_without_headers_is_a_value_error():
    with pytest.raises(ValueError, match="missing envelope headers"):
        Envelope.from_nats(None, b"{}")


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"42"])
def test_a_body_that_is_not_a_json_object_is_a_value_error(body):
    headers, _ = full_envelope().to_nats()
    with pytest.raises(ValueError):
        Envelope.from_nats(headers, body)


def test_an_empty_body_is_an_empty_payload():
    headers, _ = full_envelope().to_nats()
    assert Envelope.from_nats(headers, b"").data == {}


@pytest.mark.parametrize(
    "header,value",
    [
        (Header.MSG_ID, "not-a-uuid"),
        (Header.CORRELATION_ID, "42"),
        (Header.SCHEMA_VERSION, "two"),
        (Header.SCHEMA_VERSION, "0"),
        (Header.STREAM_VERSION, "-1"),
        (Header.OCCURRED_AT, "yesterday"),
        (Header.OCCURRED_AT, "2025-09-01T08:30:00"),  # naive: refused
        (Header.ACTOR_ROLE, "pirate"),
        (Header.POSITION, "first"),
        (Header.ACADEMIE, "Paris.Nord"),  # not a subject token
        (Header.TYPE, "Campaign Opened"),
    ],
)
def test_a_header_with_a_malformed_value_is_a_value_error(header, value):
    headers, body = full_envelope().to_nats()
    headers[header] = value
    with pytest.raises(ValueError):
        Envelope.from_nats(headers, body)


@pytest.mark.parametrize("field,value", [("stream_id", "a\r\nInjected: 1"), ("academie", "*"), ("source", "a.b")])
def test_values_that_would_break_a_header_or_a_subject_are_refused_up_front(field, value):
    with pytest.raises(ValueError):
        full_envelope(**{field: value})


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        full_envelope(occurred_at=datetime(2025, 9, 1))


_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def as_the_nats_client_carries_them(headers: dict[str, str]) -> dict[str, str]:
    # nats-py strips header values when it writes them and again when it parses them.
    return {k: v.strip() for k, v in headers.items()}


@given(
    data=st.dictionaries(st.text(max_size=10), _json, max_size=5),
    actor_id=st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
        lambda s: re.fullmatch(HEADER_SAFE, s)
    ),
)
def test_any_json_payload_and_header_safe_actor_id_round_trip(data, actor_id):
    env = full_envelope(data=data, actor=Actor(role=Role.school, id=actor_id))
    headers, body = env.to_nats()
    assert Envelope.from_nats(as_the_nats_client_carries_them(headers), body) == env


@pytest.mark.parametrize("actor_id", [" padded", "padded ", "tab\tinside", "\u2003em-space-first"])
def test_an_actor_id_the_nats_client_would_alter_is_refused(actor_id):
    with pytest.raises(ValueError):
        Actor(role=Role.school, id=actor_id)
