"""Subject scheme: ``<root>.<source>.<academie>.<EventType>``.

A consumer filters by service (``jumelage.candidatures.>``), by event type
(``jumelage.*.*.CampaignOpened``) or by académie (``jumelage.*.paris.>``). Events not tied to one
académie use the token ``national``. The root is ``jumelage`` in production; test runs sharing one
NATS server use their own root so their streams never overlap.
"""

from __future__ import annotations

from .envelope import Envelope

DEFAULT_ROOT = "jumelage"
NATIONAL = "national"
SOURCES = ("candidatures", "programmes", "notifications", "reporting")


def event_subject(envelope: Envelope, root: str = DEFAULT_ROOT) -> str:
    """The subject an envelope is published on."""
    return subject_for(envelope.source, envelope.type, envelope.academie, root)


def subject_for(source: str, event_type: str, academie: str | None = None, root: str = DEFAULT_ROOT) -> str:
    """The subject of an event of ``event_type`` from ``source`` in ``academie`` (national if none)."""
    return f"{root}.{source}.{academie or NATIONAL}.{event_type}"


def academie_filter_for(
    academie: str, source: str = "*", event_type: str = "*", root: str = DEFAULT_ROOT
) -> str:
    """A filter combining académie with service and/or type (``jumelage.*.paris.CampaignOpened``)."""
    return f"{root}.{source}.{academie}.{event_type}"


def service_filter(source: str, root: str = DEFAULT_ROOT) -> str:
    return f"{root}.{source}.>"


def type_filter(event_type: str, source: str = "*", root: str = DEFAULT_ROOT) -> str:
    return f"{root}.{source}.*.{event_type}"


def academie_filter(academie: str, root: str = DEFAULT_ROOT) -> str:
    return f"{root}.*.{academie}.>"


def stream_subjects(source: str, root: str = DEFAULT_ROOT) -> list[str]:
    """The subjects a producing service's stream captures: everything it publishes."""
    return [service_filter(source, root)]


def stream_name(source: str, root: str = DEFAULT_ROOT) -> str:
    """The JetStream stream holding one producing service's events."""
    return f"{root}_{source}".upper().replace("-", "_").replace(".", "_")


def dead_letter_subject(consumer: str, root: str = DEFAULT_ROOT) -> str:
    return f"{root}.deadletter.{consumer}"


def dead_letter_stream(root: str = DEFAULT_ROOT) -> str:
    return f"{root}_deadletter".upper().replace("-", "_")
