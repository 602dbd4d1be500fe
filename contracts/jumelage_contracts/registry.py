"""Event registry: the typed model of every event, its schema version and its upcasters.

Every producing module declares its events as subclasses of :class:`EventData` decorated with
:func:`event`. A stored payload is never rewritten: when a model's version is raised, an upcaster
``(type, old_version) -> new payload`` is registered and :func:`parse_event` applies the chain on
read, so an old event is read as the current model.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Callable, ClassVar, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .bounds import STORED
from .envelope import SYSTEM, Actor, Envelope

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class EventData(BaseModel):
    """Base of every event payload. Consumers tolerate unknown fields (they are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    SOURCE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


class UnknownEventType(ValueError):
    pass


class UnsupportedSchemaVersion(ValueError):
    pass


EVENTS: dict[str, type[EventData]] = {}
UPCASTERS: dict[tuple[str, int], Upcaster] = {}

E = TypeVar("E", bound=type[EventData])


def event(source: str, version: int = 1) -> Callable[[E], E]:
    """Register an event model published by ``source`` at schema ``version``.

    The model must declare ``type: Literal["<ClassName>"] = "<ClassName>"``: that field is the
    discriminator of :data:`AnyEvent` and what the envelope's ``type`` is checked against.
    """
    if version < 1:
        raise ValueError("schema versions start at 1")

    def register(cls: E) -> E:
        name = cls.__name__
        if name in EVENTS and EVENTS[name] is not cls:
            raise ValueError(f"event type {name} registered twice")
        field = cls.model_fields.get("type")
        if field is None or field.default != name:
            raise TypeError(f'{name} must declare type: Literal["{name}"] = "{name}"')
        cls.SOURCE = source
        cls.VERSION = version
        EVENTS[name] = cls
        return cls

    return register


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the function that turns a ``from_version`` payload into ``from_version + 1``."""

    if from_version < 1:
        raise ValueError("schema versions start at 1")

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS and UPCASTERS[key] is not fn:
            raise ValueError(f"upcaster for {event_type} v{from_version} registered twice")
        UPCASTERS[key] = fn
        return fn

    return register


def upcast(event_type: str, version: int, data: Payload) -> Payload:
    """Bring a payload written at ``version`` up to the current model's version, one step at a
    time; the stored payload is not modified."""
    model = model_for(event_type)
    if version < 1:
        raise UnsupportedSchemaVersion(f"{event_type} v{version}: schema versions start at 1")
    if version > model.VERSION:
        raise UnsupportedSchemaVersion(
            f"{event_type} v{version} is newer than this code (v{model.VERSION})"
        )
    while version < model.VERSION:
        try:
            step = UPCASTERS[(event_type, version)]
        except KeyError:
            raise UnsupportedSchemaVersion(f"no upcaster for {event_type} v{version}") from None
        data = step(dict(data))
        version += 1
    return data


def model_for(event_type: str) -> type[EventData]:
    load_all()
    try:
        return EVENTS[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def missing_upcasters() -> list[tuple[str, int]]:
    """``(type, from_version)`` of every step missing from an upcaster chain (should be empty)."""
    load_all()
    return [
        (name, v)
        for name, model in sorted(EVENTS.items())
        for v in range(1, model.VERSION)
        if (name, v) not in UPCASTERS
    ]


def parse_event(envelope: Envelope) -> EventData:
    """The envelope's data as the current typed model (upcast if written by an older version).

    Raises :class:`UnknownEventType`, :class:`UnsupportedSchemaVersion` or pydantic's
    ``ValidationError`` (all three are ``ValueError``).
    """
    return parse_payload(envelope.type, envelope.schema_version, envelope.data)


def parse_payload(event_type: str, schema_version: int, data: Payload) -> EventData:
    """Like :func:`parse_event`, from the parts of an envelope."""
    model = model_for(event_type)
    payload = upcast(event_type, schema_version, data)
    # The payload's own ``type`` (if any) is overridden: the envelope's type is authoritative and
    # an upcaster that renames nothing should not have to rewrite it.
    # Stored history is read with the bounds relaxed (bounds.STORED): an event written before a
    # bound existed still loads; new events are validated with them when they are made.
    return model.model_validate({**payload, "type": event_type}, context=STORED)


# -- the discriminated union of every registered event -----------------------------------------

_union_cache: tuple[tuple[type[EventData], ...], Any, TypeAdapter[Any]] | None = None


def _union() -> tuple[Any, TypeAdapter[Any]]:
    global _union_cache
    load_all()
    models = tuple(EVENTS[name] for name in sorted(EVENTS))
    if _union_cache is None or _union_cache[0] != models:
        if not models:
            raise UnknownEventType("no event is registered")
        if len(models) == 1:
            annotated: Any = models[0]
        else:
            annotated = Annotated[Union[models], Field(discriminator="type")]  # type: ignore[valid-type]
        _union_cache = (models, annotated, TypeAdapter(annotated))
    return _union_cache[1], _union_cache[2]


def any_event_adapter() -> TypeAdapter[Any]:
    """A pydantic ``TypeAdapter`` over :data:`AnyEvent` (validate, dump, JSON Schema)."""
    return _union()[1]


def validate_any(payload: Payload | str | bytes) -> EventData:
    """A current-version payload (dict or JSON) as its model, chosen by its ``type`` field."""
    adapter = any_event_adapter()
    if isinstance(payload, (str, bytes)):
        return adapter.validate_json(payload)
    return adapter.validate_python(payload)


def __getattr__(name: str) -> Any:
    # ``AnyEvent`` is built on first access, after every producing module has registered its
    # events; building it at import time would capture a partial registry.
    if name == "AnyEvent":
        return _union()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_envelope(
    data: EventData,
    *,
    stream_id: str,
    occurred_at: datetime,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None = None,
    actor: Actor = SYSTEM,
    academie: str | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    """Wrap a payload in a new envelope (stream version and positions are set by the store)."""
    return Envelope(
        id=event_id or uuid.uuid4(),
        type=data.event_type(),
        schema_version=type(data).VERSION,
        source=type(data).SOURCE,
        stream_id=stream_id,
        occurred_at=occurred_at,
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=actor,
        academie=academie,
        data=data.model_dump(mode="json"),
    )


_loaded = False


def load_all() -> dict[str, type[EventData]]:
    """Import every producing module so their events are registered; the registry by type."""
    global _loaded
    if not _loaded:
        from . import candidatures, notifications, programmes  # noqa: F401

        _loaded = True
    return EVENTS


_load_all = load_all
