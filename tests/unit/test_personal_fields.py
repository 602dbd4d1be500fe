"""Guard (issue 16): every event field that holds a person's name, e-mail or phone — or free text
people type about people — is marked personal (``x-personal`` in its JSON Schema, set with
``jumelage_contracts.personal.personal``). Erasure, when it comes, will encrypt exactly the marked
fields, and the logs already mask them; a field that is not marked would escape both.

The rule, over every registered event and every part it nests (their JSON Schemas):

- a property is *free text* when it is a string or a list of strings that is not an enum, a
  constant, a reference to another model or a self-bounded format (date, date-time, uuid…):
  only free text can hold a name, an address or a number someone typed;
- a free-text property whose name looks personal (``PERSONAL_LOOKING``: name, e-mail, mail,
  phone, tel, ``*_by``, attendee, reviewer, signatory, contact, referent, comment, minutes, notes)
  must be marked personal, unless ``NOT_PERSONAL`` names it with the reason;
- a name ending in ``_id`` or ``_ids`` is a reference (a referent's id stays after an erasure:
  it is what erasure will key on), and is not checked;
- a name that does not look personal (``title``, ``label``, ``place``, ``reason``…) is not
  checked: those describe the project, not a person, and stay readable after an erasure.

``NOT_PERSONAL`` may only list free-text fields the pattern catches (a test checks it)."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, Field

from jumelage_contracts import load_all
from jumelage_contracts.personal import PERSONAL, personal, personal_field_names, personal_fields

PERSONAL_LOOKING = re.compile(
    r"name|e_?mail|mail|phone|^tel|_by$|attendee|reviewer|signator|contact|referent|comment|minutes|notes")
REFERENCE = re.compile(r"_ids?$")
SELF_BOUNDED_FORMATS = {"date", "date-time", "time", "uuid", "duration"}

NOT_PERSONAL = {
    "SchoolRef.name": "a school (a public body), not a person",
    "PartnerRef.name": "a partner structure (museum, company, association)",
    "Partner.name": "a partner structure publishing an offer",
    "PartnerCompany.name": "the company of a JES jumelage",
    "Organiser.name": "an ACM organiser: a commune, an association, a centre de loisirs",
    "AcmPlace.name": "a place where an ACM is held (a school, a gymnasium, a centre)",
    "ProgrammeYearOpened.caused_by": "the id of the event that opened the year",
    "ReminderScheduled.caused_by": "the id of the event that planned the reminder",
    "ReminderMissed.caused_by": "the id of the event that planned the reminder",
}


def _free_text(schema: dict) -> bool:
    if "anyOf" in schema:
        return any(_free_text(option) for option in schema["anyOf"])
    if "$ref" in schema or "enum" in schema or "const" in schema:
        return False
    if schema.get("type") == "string":
        return schema.get("format") not in SELF_BOUNDED_FORMATS
    return schema.get("type") == "array" and _free_text(schema.get("items", {}))


def unmarked_personal_looking(model: type[BaseModel]) -> set[str]:
    """``Model.field`` of the free-text fields of ``model`` (and its parts) whose name looks
    personal and that carry no personal marker."""
    schema = model.model_json_schema()
    models = {model.__name__: schema, **schema.get("$defs", {})}
    return {f"{name}.{prop}" for name, s in models.items() for prop, sub in s.get("properties", {}).items()
            if PERSONAL_LOOKING.search(prop) and not REFERENCE.search(prop) and _free_text(sub) and not sub.get(PERSONAL)}


def all_events() -> list[type[BaseModel]]:
    return sorted(load_all().values(), key=lambda m: m.__name__)


def test_the_guard_catches_an_unmarked_personal_field():
    class Sloppy(BaseModel):
        contact_name: str = Field(max_length=300)
        signed_by: list[str] = Field(default_factory=list, max_length=5)
        title: str = Field(max_length=300)  # not personal-looking: not checked
        phone_count: int = 0  # not text: cannot hold a number someone typed

    class Careful(BaseModel):
        contact_name: str = personal(max_length=300)
        signed_by: list[str] = personal(default_factory=list, max_length=5)
        phone: str | None = personal(default=None, max_length=40)

    assert unmarked_personal_looking(Sloppy) == {"Sloppy.contact_name", "Sloppy.signed_by"}
    assert unmarked_personal_looking(Careful) == set()
    assert personal_fields(Careful) == {"Careful.contact_name", "Careful.signed_by", "Careful.phone"}


@pytest.mark.parametrize("model", all_events(), ids=lambda m: m.__name__)
def test_every_personal_looking_field_of_an_event_is_marked(model):
    assert unmarked_personal_looking(model) - set(NOT_PERSONAL) == set(), (
        "mark it with jumelage_contracts.personal.personal(...), or add it to NOT_PERSONAL with the reason")


def test_the_allow_list_only_names_personal_looking_fields_left_unmarked():
    still = set().union(*(unmarked_personal_looking(m) for m in all_events()))
    assert set(NOT_PERSONAL) - still == set(), "marked or renamed since: remove them from NOT_PERSONAL"


def test_the_people_of_a_partnership_are_marked_personal():
    # what the issue names: referents, signatories, attendees, recipients, reviewers, comments
    marked = set().union(*(personal_fields(m) for m in all_events()))
    assert {
        "ReferentDesignated.name", "ReferentDesignated.email", "ReferentDesignated.phone",
        "ConventionSigned.signed_by", "MeetingScheduled.attendees_planned", "MeetingHeld.attendees",
        "MeetingHeld.minutes", "SideEvaluation.comments", "ActionCompleted.notes",
        "CandidatureReviewed.reviewer", "CandidatureReviewed.comment", "Recipient.name", "Recipient.email",
        "FundingGranted.granted_by", "ReminderFailed.error",
    } <= marked
    assert marked.isdisjoint(NOT_PERSONAL)


def test_the_marker_shows_in_the_json_schema_of_the_event():
    from jumelage_contracts.programmes import ReferentDesignated

    properties = ReferentDesignated.model_json_schema()["properties"]
    assert [p for p in ("name", "email", "phone", "role", "referent_id") if properties[p].get(PERSONAL)] == [
        "name", "email", "phone"]


def test_the_personal_field_names_are_the_names_of_the_marked_fields():
    names = personal_field_names()
    assert {"name", "email", "phone", "signed_by", "attendees", "comments"} <= names
    assert {"title", "role", "referent_id", "place", "reason"}.isdisjoint(names)
