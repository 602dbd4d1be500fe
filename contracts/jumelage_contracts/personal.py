"""Which fields of an event hold a person's data (issue 16, RGPD).

A field is declared personal where it is defined, with :func:`personal` in place of pydantic's
``Field``: its JSON Schema then carries ``"x-personal": true``. Personal means a person's name,
e-mail address or phone number (referents, recipients, signatories, attendees, reviewers, who
granted funding), an account id that may be one, and free text whose purpose is to record what
people said or did (meeting minutes, evaluation and review comments, action notes, a mail
server's refusal quoting the address). Names of schools and partner structures, titles, places,
objectives and reasons describe the project, not a person, and are not marked.

What reads the marker: ``tests/unit/test_personal_fields.py`` (a field whose name looks personal
must be marked), the kit's log processor (values under these keys never reach a log line) and,
later, erasure (per-person keys encrypting exactly these fields).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import PydanticUndefined

PERSONAL = "x-personal"
"""The JSON Schema keyword of a personal field."""


def personal(default: Any = PydanticUndefined, **field: Any) -> Any:
    """``Field(default, **field)`` of a field holding a person's data: marked ``x-personal``."""
    return Field(default, json_schema_extra={PERSONAL: True}, **field)


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
