"""Bounds hold for what is written now, not for history (issue 10): a payload stored before a
bound existed still loads through ``parse_payload`` (the store and the bus read that way)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from jumelage_contracts import parse_payload
from jumelage_contracts.bounds import clip
from jumelage_contracts.programmes import ActionCompleted, MeetingHeld

OLD_COMPLETION = {
    "partnership_id": "p-1", "school_year": "2025-2026", "year_index": 1, "action_id": "act-1", "kind": "visit",
    "class_ids": [f"c{i}" for i in range(200)], "completed_at": "2025-11-18T11:00:00",
    "staff_present": 10**20, "families_present": 3, "notes": "avant\x00apres",
}
OLD_MEETING = {
    "partnership_id": "p-1", "school_year": "2025-2026", "year_index": 1, "meeting_id": "m-1", "kind": "work",
    "held_at": "2025-10-01T09:00:00+02:00", "minutes": "Compte rendu", "attendees": ["x" * 2000] * 600,
}


def test_a_new_event_beyond_its_bounds_is_refused_naming_each_field():
    with pytest.raises(ValidationError) as refused:
        ActionCompleted.model_validate(OLD_COMPLETION)
    assert {e["loc"][0] for e in refused.value.errors()} == {"class_ids", "completed_at", "staff_present", "notes"}


def test_a_stored_event_written_before_the_bounds_still_loads_with_its_values():
    event = parse_payload("ActionCompleted", 1, OLD_COMPLETION)
    assert (len(event.class_ids), event.staff_present, event.notes) == (200, 10**20, "avant\x00apres")
    assert event.completed_at == datetime(2025, 11, 18, 11, tzinfo=timezone.utc)  # a naive instant read as UTC


def test_a_stored_meeting_with_600_long_attendees_still_loads_but_cannot_be_made_again():
    assert len(parse_payload("MeetingHeld", 1, OLD_MEETING).attendees) == 600
    with pytest.raises(ValidationError):
        MeetingHeld.model_validate(OLD_MEETING)


def test_history_is_lenient_on_bounds_only_not_on_types():
    with pytest.raises(ValidationError):
        parse_payload("ActionCompleted", 1, {**OLD_COMPLETION, "staff_present": "many"})


def test_a_composed_text_is_clipped_to_its_bound_with_an_ellipsis():
    assert clip("x" * 10, 10) == "x" * 10
    assert clip("x" * 11, 10) == "x" * 9 + "…"
