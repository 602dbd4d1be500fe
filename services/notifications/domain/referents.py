"""Who the referents of a partnership year are, for its reminders. Pure."""

from __future__ import annotations

from typing import Any, Sequence


def referents_carry_over_until_the_side_names_new_ones(refs: Sequence[Any], school_year: str | None) -> list[Any]:
    """Per side (school, partner), the referents named for ``school_year``; a side that has named
    nobody for it yet keeps those of its latest earlier year, so a renewed partnership's reminders
    reach the people who ran it last year rather than a functional mailbox. ``refs``: the
    partnership's active referents of every year (rows with ``side`` and ``school_year``)."""
    if school_year is None:
        return list(refs)
    chosen: list[Any] = []
    for side in sorted({ref.side for ref in refs}):
        years = sorted({ref.school_year for ref in refs if ref.side == side and ref.school_year <= school_year})
        if years:
            chosen += [ref for ref in refs if ref.side == side and ref.school_year == years[-1]]
    return chosen
