"""Bounded field types shared by the contracts and the services' request bodies (issue 10).

One definition each: a text type knows its length and whether it may span lines; a count or an
amount knows its range. The bounds are pydantic constraints, so they are enforced on validation
and shown in the JSON Schemas and the OpenAPI documents. Control characters (NUL included:
PostgreSQL's ``text`` cannot hold it) are refused by a pattern; multi-line texts keep tab, LF, CR.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field

# C0 controls, DEL and C1 controls; multi-line texts allow \t \n \r.
SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

JS_SAFE_INT = 2**53  # the largest integer a JSON client (JavaScript) keeps exact; < PostgreSQL bigint

Id = Annotated[str, Field(min_length=1, max_length=200, pattern=SINGLE_LINE)]
Name = Annotated[str, Field(min_length=1, max_length=300, pattern=SINGLE_LINE)]
Title = Annotated[str, Field(min_length=1, max_length=300, pattern=SINGLE_LINE)]
Place = Annotated[str, Field(min_length=1, max_length=500, pattern=SINGLE_LINE)]
Reason = Annotated[str, Field(min_length=1, max_length=4000, pattern=MULTI_LINE)]
Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=MULTI_LINE)]
LongText = Annotated[str, Field(min_length=1, max_length=20000, pattern=MULTI_LINE)]

Count = Annotated[int, Field(ge=0, le=100_000, description="People or things counted (small)")]
Euros = Annotated[int, Field(ge=0, le=JS_SAFE_INT // 100, description="Whole euros (in cents it stays under 2^53)")]
Timestamp = AwareDatetime
"""An instant with its time zone; a naive date-time is refused (422 naming the field)."""

# Sizes of lists, by what the domain holds.
CLASSES = 30  # a school takes part with at most tens of classes
RESOURCES = 50  # an offer lists tens of resources
PEOPLE = 100  # attendees of a meeting
ITEMS = 50  # productions, budget lines, questionnaire answers


def clip(text: str, max_length: int) -> str:
    """``text`` cut to ``max_length`` characters, with an ellipsis when cut: for texts a service
    composes from bounded parts (a prefix and a reason), which must still fit their own bound."""
    return text if len(text) <= max_length else text[: max_length - 1] + "…"
