"""Bounded field types shared by the contracts and the services' request bodies (issue 10).

One definition each: a text type knows its length and whether it may span lines; a count or an
amount knows its range. The bounds are pydantic constraints, so they are enforced on validation
and shown in the JSON Schemas and the OpenAPI documents. Control characters (NUL included:
PostgreSQL's ``text`` cannot hold it) are refused by a pattern; multi-line texts keep tab, LF, CR.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationInfo, WrapValidator

# C0 controls, DEL and C1 controls; multi-line texts allow \t \n \r.
SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

JS_SAFE_INT = 2**53  # the largest integer a JSON client (JavaScript) keeps exact; < PostgreSQL bigint

STORED: dict[str, Any] = {"stored": True}
"""Validation context of payloads read back from a store or the bus (``parse_payload`` passes
it): events written before a bound existed must still load, so there the bounds of this module
are not enforced (a naive timestamp is read as UTC). Commands and new events are validated
without it: the bounds hold for everything written from now on."""


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _lenient_for_history(loose: Any, fix: Any = None) -> WrapValidator:
    """Validate with the bounds, or as ``loose`` (the type without them) under :data:`STORED`."""
    adapter = TypeAdapter(loose)

    def validate(value: Any, bounded: Any, info: ValidationInfo) -> Any:
        if not _stored(info):
            return bounded(value)
        loaded = adapter.validate_python(value, context=info.context)
        return fix(loaded) if fix else loaded

    return WrapValidator(validate)


def _utc_if_naive(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _text(max_length: int, pattern: str, min_length: int = 1) -> Any:
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=pattern), _lenient_for_history(str)]


def _int(ge: int, le: int, description: str) -> Any:
    return Annotated[int, Field(ge=ge, le=le, description=description), _lenient_for_history(int)]


def many(item: Any, max_length: int, min_length: int = 0) -> Any:
    """A list of at most ``max_length`` items (at least ``min_length``), lenient for history."""
    return Annotated[list[item], Field(min_length=min_length, max_length=max_length),  # type: ignore[valid-type]
                     _lenient_for_history(list[item])]  # type: ignore[valid-type]


EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
"""An e-mail address: something, an @, something (the mail server is the real check)."""

Id = _text(200, SINGLE_LINE)
Name = _text(300, SINGLE_LINE)
Title = _text(300, SINGLE_LINE)
Place = _text(500, SINGLE_LINE)
Reason = _text(4000, MULTI_LINE)
Text = _text(4000, MULTI_LINE)
LongText = _text(20000, MULTI_LINE)

Count = _int(0, 100_000, "People or things counted (small)")
Euros = _int(0, JS_SAFE_INT // 100, "Whole euros (in cents it stays under 2^53)")
Timestamp = Annotated[AwareDatetime, _lenient_for_history(datetime, _utc_if_naive)]
"""An instant with its time zone; a naive date-time is refused (422 naming the field)."""

# Sizes of lists, by what the domain holds.
CLASSES = 30  # a school takes part with at most tens of classes
RESOURCES = 50  # an offer lists tens of resources
PEOPLE = 100  # attendees of a meeting
ITEMS = 50  # productions, budget lines, questionnaire answers
SCHOOLS = 30  # the schools of a CNR project: a network or a bassin de formation


def clip(text: str, max_length: int) -> str:
    """``text`` cut to ``max_length`` characters, with an ellipsis when cut: for texts a service
    composes from bounded parts (a prefix and a reason), which must still fit their own bound."""
    return text if len(text) <= max_length else text[: max_length - 1] + "…"
