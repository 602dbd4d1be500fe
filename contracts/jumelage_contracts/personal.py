"""Which fields of an event hold a person's data (issue 16, RGPD).

A field is declared personal where it is defined, with :func:`personal` in place of pydantic's
``Field``: its JSON Schema then carries ``"x-personal": true``. Personal means a person's name,
e-mail address or phone number (referents, recipients, signatories, attendees, reviewers, who
granted funding), an account id that may be one, and free text whose purpose is to record what
people said or did (meeting minutes, evaluation and review comments, action notes, a mail
server's refusal quoting the address). Names of schools and partner structures, titles, places,
objectives and reasons describe the project, not a person, and are not marked.

What reads the marker: ``tests/unit/test_personal_fields.py`` (a field whose name looks personal
must be marked), the kit's log processor (values under these keys never reach a log line) and
erasure (``eventkit.shredding``: per-subject keys encrypting exactly these fields).

A personal field may name its *subject*, the sibling field holding the person's id
(``personal(subject="referent_id")``, ``"x-personal-subject"`` in the schema): its value is then
encrypted with that person's key, which ``jumelage erase --person <id>`` deletes. A field with no
subject (free text, a signatory's name) is encrypted with its stream's key: erased when the stream
is (retention), not when one person is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import PydanticUndefined

PERSONAL = "x-personal"
"""The JSON Schema keyword of a personal field."""
SUBJECT = "x-personal-subject"
"""The JSON Schema keyword naming the sibling field that holds the person's id."""
ERASED = "personne effacée"
"""What a personal text reads as once its subject's key is gone."""
ERASED_EMAIL = "personne-effacee@effacee.invalid"
"""What a personal e-mail address reads as once erased: valid for the schemas, deliverable nowhere
(``.invalid`` is reserved, RFC 2606); consumers test :func:`is_erased` and send nothing."""


def personal(default: Any = PydanticUndefined, *, subject: str | None = None, **field: Any) -> Any:
    """``Field(default, **field)`` of a field holding a person's data: marked ``x-personal``, and
    ``x-personal-subject`` when ``subject`` names the field holding the person's id."""
    extra: dict[str, Any] = {PERSONAL: True}
    if subject is not None:
        extra[SUBJECT] = subject
    return Field(default, json_schema_extra=extra, **field)


def is_erased(value: Any) -> bool:
    """Whether a personal value is the placeholder of an erased one."""
    return value in (ERASED, ERASED_EMAIL)


def erased_like(value: Any) -> Any:
    """The placeholder standing for an erased ``value`` of the same shape (an address for an
    address, a list of placeholders for a list of names)."""
    if isinstance(value, list):
        return [erased_like(v) for v in value]
    if isinstance(value, str) and "@" in value:
        return ERASED_EMAIL
    return ERASED


def personal_fields(model: type[BaseModel]) -> set[str]:
    """``Model.field`` of every field of ``model`` and of the parts it nests marked personal."""
    schema = model.model_json_schema()
    models = {model.__name__: schema, **schema.get("$defs", {})}
    return {f"{name}.{prop}" for name, s in models.items() for prop, sub in s.get("properties", {}).items()
            if sub.get(PERSONAL)}


@lru_cache(maxsize=1)
def personal_field_names() -> frozenset[str]:
    """The names of the fields marked personal in any registered event (``name``, ``email``…)."""
    from .registry import load_all

    return frozenset(field.rsplit(".", 1)[1] for model in load_all().values() for field in personal_fields(model))


Plan = dict[str, Any]
"""Where the personal values of a payload are: ``{field: Leaf | Plan}`` (a nested plan applies to
an object, or to each object of a list)."""


class Leaf(tuple):
    """A personal field: ``Leaf((subject_field,))`` (``subject_field`` None: the stream's key)."""

    @property
    def subject_field(self) -> str | None:
        return self[0]


def _plan_of(schema: dict, defs: dict, seen: frozenset[str]) -> Plan:
    plan: Plan = {}
    for prop, sub in schema.get("properties", {}).items():
        if sub.get(PERSONAL):
            plan[prop] = Leaf((sub.get(SUBJECT),))
            continue
        nested = _nested_plan(sub, defs, seen)
        if nested:
            plan[prop] = nested
    return plan


def _nested_plan(schema: dict, defs: dict, seen: frozenset[str]) -> Plan:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return {} if name in seen else _plan_of(defs.get(name, {}), defs, seen | {name})
    for option in schema.get("anyOf", []):
        found = _nested_plan(option, defs, seen)
        if found:
            return found
    if schema.get("type") == "array":
        return _nested_plan(schema.get("items", {}), defs, seen)
    return _plan_of(schema, defs, seen) if "properties" in schema else {}


@lru_cache(maxsize=None)
def _plan_for_model(model: type[BaseModel]) -> Plan:
    schema = model.model_json_schema()
    return _plan_of(schema, schema.get("$defs", {}), frozenset({model.__name__}))


def personal_plan(event_type: str) -> Plan:
    """Where ``event_type``'s personal values are (empty for an unknown type or one without)."""
    from .registry import EVENTS, load_all

    load_all()
    model = EVENTS.get(event_type)
    return _plan_for_model(model) if model is not None else {}
