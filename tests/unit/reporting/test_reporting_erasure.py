"""Reporting on PersonErased (issue 16): the erased referent's timeline lines are said again with
« personne effacée » — the same lines, nothing added, no figure touched — and the lookup that
found them goes."""

from __future__ import annotations

from datetime import date, datetime, timezone

from jumelage_contracts.personal import ERASED
from reporting.domain import needs, project
from reporting.domain.model import Incoming
from reporting.domain.programmes import person_key

AT = datetime(2027, 9, 20, 8, tzinfo=timezone.utc)


def incoming(event_id: str, type_: str, **data) -> Incoming:
    return Incoming(event_id=event_id, type=type_, source="programmes", stream_id="s", occurred_at=AT,
                    day=date(2027, 9, 20), academie="paris", data=data)


def designated(event_id: str, referent_id: str, name: str, side: str = "school") -> Incoming:
    return incoming(event_id, "ReferentDesignated", partnership_id="p1", school_year="2027-2028", year_index=1,
                    referent_id=referent_id, side=side, role="teacher", name=name, email="x@ac-paris.fr")


def test_an_erased_referent_s_lines_are_said_again_without_her_and_nothing_else_changes():
    state: dict = {}
    first = project(designated("e1", "ref-jeanne", "Jeanne Vauquelin"), state)
    state.update(first.state)
    again = project(designated("e2", "ref-jeanne", "Jeanne Vauquelin", side="partner"), state)
    state.update(again.state)
    assert "Jeanne Vauquelin" in first.timeline[0].summary

    erasure = incoming("e3", "PersonErased", person_id="ref-jeanne", reason="request", erased_at=AT.isoformat())
    assert needs(erasure) == [person_key("ref-jeanne")]
    effects = project(erasure, state)
    assert [(r.event_id, r.type) for r in effects.redactions] == [("e1", "ReferentDesignated"),
                                                                  ("e2", "ReferentDesignated")]
    assert all(r.summary.endswith(f" : {ERASED}") for r in effects.redactions)
    assert [r.summary.replace(ERASED, "Jeanne Vauquelin") for r in effects.redactions] == \
        [first.timeline[0].summary, again.timeline[0].summary]
    assert effects.facts == [] and effects.timeline == [] and effects.state == {person_key("ref-jeanne"): None}


def test_erasing_someone_reporting_never_saw_changes_nothing():
    effects = project(incoming("e9", "PersonErased", person_id="ref-nobody", reason="request",
                               erased_at=AT.isoformat()), {})
    assert effects.redactions == [] and effects.state == {} and effects.facts == []
