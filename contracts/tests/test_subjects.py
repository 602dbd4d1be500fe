"""The subject scheme: filters select exactly what they name, with NATS wildcard semantics."""

import uuid
from datetime import datetime, timezone

import pytest

from jumelage_contracts.envelope import Envelope
from jumelage_contracts.subjects import (
    NATIONAL,
    SOURCES,
    academie_filter,
    academie_filter_for,
    dead_letter_stream,
    dead_letter_subject,
    event_subject,
    service_filter,
    stream_name,
    stream_subjects,
    subject_for,
    type_filter,
)


def nats_matches(pattern: str, subject: str) -> bool:
    """NATS semantics: ``*`` is exactly one token, ``>`` one or more trailing tokens."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return i == len(p) - 1 and len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def test_the_matcher_itself_follows_nats_rules():
    assert nats_matches("a.*.c", "a.b.c") and not nats_matches("a.*.c", "a.b.b.c")
    assert nats_matches("a.>", "a.b.c") and not nats_matches("a.>", "a")
    assert not nats_matches("a.b", "a.b.c") and not nats_matches("a.b.c", "a.b")


def envelope(source: str, event_type: str, academie: str | None) -> Envelope:
    return Envelope(type=event_type, source=source, stream_id="s-1", academie=academie,
                    occurred_at=datetime(2025, 9, 1, tzinfo=timezone.utc), correlation_id=uuid.uuid4())


ALL = [
    subject_for(source, event_type, academie)
    for source in ("candidatures", "programmes")
    for event_type in ("CampaignOpened", "ActionScheduled")
    for academie in ("paris", "la-reunion", None)
]


def test_an_envelope_is_published_on_root_source_academie_type():
    assert event_subject(envelope("candidatures", "CampaignOpened", "paris")) == "jumelage.candidatures.paris.CampaignOpened"
    assert event_subject(envelope("programmes", "BilanRecorded", None), root="t1") == f"t1.programmes.{NATIONAL}.BilanRecorded"


def test_a_service_filter_selects_every_event_of_that_service_and_nothing_else():
    picked = [s for s in ALL if nats_matches(service_filter("candidatures"), s)]
    assert picked == [s for s in ALL if s.split(".")[1] == "candidatures"] and len(picked) == 6


def test_a_type_filter_selects_that_type_from_any_academie_and_optionally_one_service():
    picked = [s for s in ALL if nats_matches(type_filter("CampaignOpened"), s)]
    assert len(picked) == 6 and all(s.endswith(".CampaignOpened") for s in picked)
    narrowed = [s for s in ALL if nats_matches(type_filter("CampaignOpened", source="programmes"), s)]
    assert narrowed == [s for s in picked if ".programmes." in s] and len(narrowed) == 3


def test_an_academie_filter_selects_that_academie_only_and_not_national_events():
    picked = [s for s in ALL if nats_matches(academie_filter("paris"), s)]
    assert len(picked) == 4 and all(s.split(".")[2] == "paris" for s in picked)
    national = [s for s in ALL if nats_matches(academie_filter(NATIONAL), s)]
    assert len(national) == 4


def test_academie_service_and_type_combine():
    f = academie_filter_for("la-reunion", source="programmes", event_type="ActionScheduled")
    assert [s for s in ALL if nats_matches(f, s)] == ["jumelage.programmes.la-reunion.ActionScheduled"]


def test_test_roots_never_see_each_other():
    mine = subject_for("candidatures", "CampaignOpened", "paris", root="run_a")
    assert not nats_matches(service_filter("candidatures", root="run_b"), mine)
    assert nats_matches(service_filter("candidatures", root="run_a"), mine)


@pytest.mark.parametrize("source", SOURCES)
def test_each_service_stream_captures_its_own_subjects_only(source):
    (captured,) = stream_subjects(source, root="t1")
    assert nats_matches(captured, subject_for(source, "X", "paris", root="t1"))
    others = [o for o in SOURCES if o != source]
    assert not any(nats_matches(captured, subject_for(o, "X", "paris", root="t1")) for o in others)


def test_stream_names_are_legal_and_distinct_per_root_and_service():
    names = {stream_name(s, root) for s in SOURCES for root in ("jumelage", "test-run.1")}
    assert len(names) == 2 * len(SOURCES)
    assert all(n.replace("_", "").isalnum() and n.isupper() for n in names)
    assert stream_name("candidatures") == "JUMELAGE_CANDIDATURES"


def test_dead_letters_do_not_fall_into_any_service_stream():
    dl = dead_letter_subject("reporting-campaigns")
    assert not any(nats_matches(stream_subjects(s)[0], dl) for s in SOURCES)
    assert dead_letter_stream() not in {stream_name(s) for s in SOURCES}
