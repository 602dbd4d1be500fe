"""Pure projection of events into dated facts: ``needs(event)`` names the state it reads,
``project(event, state)`` returns what to write. No I/O, no clock."""

from __future__ import annotations

from typing import Any, Mapping

from . import candidatures, notifications, programmes
from .model import METRICS, Dims, Effects, Entry, Fact, Incoming

_SOURCES = {"candidatures": candidatures, "programmes": programmes, "notifications": notifications}


def handles(source: str, event_type: str) -> bool:
    module = _SOURCES.get(source)
    return module is not None and event_type in module.HANDLERS


def needs(ev: Incoming) -> list[str]:
    if not handles(ev.source, ev.type):
        return []
    return _SOURCES[ev.source].needs(ev)


def waits_for(ev: Incoming, state: Mapping[str, dict[str, Any]]) -> str | None:
    """The state key of a cause in another stream ``ev`` must wait for (see ``order``); None when
    it can be projected now. Causes within its own stream are its stream's order."""
    if not handles(ev.source, ev.type):
        return None
    check = getattr(_SOURCES[ev.source], "waits_for", None)
    return check(ev, state) if check is not None else None


def project(ev: Incoming, state: Mapping[str, dict[str, Any]]) -> Effects:
    """What ``ev`` adds to the read model, given the state named by :func:`needs`.
    An event type the projection does not know adds nothing (a newer producer's event)."""
    if not handles(ev.source, ev.type):
        return Effects()
    return _SOURCES[ev.source].HANDLERS[ev.type](ev, state)


__all__ = ["METRICS", "Dims", "Effects", "Entry", "Fact", "Incoming", "handles", "needs", "project", "waits_for"]
