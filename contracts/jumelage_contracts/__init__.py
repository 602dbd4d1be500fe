"""Jumelage contracts: the envelope, the events of every producing service, the reference types."""

from typing import Any

from .envelope import SYSTEM, Actor, Envelope, Header, Role
from .registry import (
    EVENTS,
    EventData,
    UnknownEventType,
    UnsupportedSchemaVersion,
    any_event_adapter,
    event,
    load_all,
    missing_upcasters,
    model_for,
    parse_event,
    parse_payload,
    to_envelope,
    upcaster,
    validate_any,
)

__all__ = [
    "SYSTEM", "Actor", "Envelope", "Header", "Role", "EVENTS", "EventData", "UnknownEventType",
    "UnsupportedSchemaVersion", "event", "model_for", "parse_event", "to_envelope", "upcaster",
    "AnyEvent", "any_event_adapter", "load_all", "missing_upcasters", "parse_payload", "validate_any",
]


def __getattr__(name: str) -> Any:
    # AnyEvent is built lazily by the registry, once every producing module has registered.
    if name == "AnyEvent":
        from . import registry

        return registry.AnyEvent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
