"""Guard (issue 10): every request body of every service, and every part it nests, bounds each
string (length), list (items) and number (upper bound). A new unbounded field fails here.
``NOT_YET_BOUNDED`` would list a field deliberately left open (none today); it may only shrink."""

from __future__ import annotations

import importlib
import inspect

import pytest
from pydantic import BaseModel

BODY_MODULES = ("candidatures.api.schemas", "programmes.api.schemas", "notifications.api.routes", "eventkit.http")
SELF_BOUNDED_FORMATS = {"date", "date-time", "time", "uuid", "duration"}

NOT_YET_BOUNDED: set[str] = set()


def body_models() -> list[type[BaseModel]]:
    found = []
    for name in BODY_MODULES:
        module = importlib.import_module(name)
        found += [obj for obj in vars(module).values()
                  if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == name]
    return found


def unbounded(schema: dict, where: str) -> list[str]:
    if "anyOf" in schema:
        return [p for option in schema["anyOf"] for p in unbounded(option, where)]
    kind = schema.get("type")
    if "$ref" in schema or "enum" in schema or "const" in schema:
        return []
    if kind == "string" and schema.get("format") not in SELF_BOUNDED_FORMATS and "maxLength" not in schema:
        return [where]
    if kind in ("integer", "number") and "maximum" not in schema and "exclusiveMaximum" not in schema:
        return [where]
    if kind == "array":
        return ([] if "maxItems" in schema else [where]) + unbounded(schema.get("items", {}), where)
    return []


def unbounded_fields(model: type[BaseModel]) -> set[str]:
    schema = model.model_json_schema()
    models = {model.__name__: schema, **schema.get("$defs", {})}
    return {field for name, s in models.items() for prop, sub in s.get("properties", {}).items()
            for field in unbounded(sub, f"{name}.{prop}")}


def test_the_guard_finds_the_request_bodies():
    names = {m.__name__ for m in body_models()}
    assert {"OfferBody", "CandidatureBody", "ActionBody", "ActionCompleteBody", "ClockMove"} <= names


def test_the_guard_catches_an_unbounded_field():
    class Loose(BaseModel):
        text: str
        items: list[int]

    assert unbounded_fields(Loose) == {"Loose.text", "Loose.items"}


@pytest.mark.parametrize("model", body_models(), ids=lambda m: f"{m.__module__}.{m.__name__}")
def test_every_field_of_a_request_body_is_bounded(model):
    assert unbounded_fields(model) - NOT_YET_BOUNDED == set()
