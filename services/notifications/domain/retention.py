"""Retention of a partnership's people (RGPD, issue 16): how long after a partnership ends its
people are kept, per dispositif, and when that runs out.

The retention counts from the end of the partnership's last school year — the end of 31 August
in its académie (the school year's administrative end; ``ProgrammeYearOpened`` gives the year) —
or from when it ended, if that came later (a renewal declined in September). A renewal opens a
later year, and the retention counts from that one. ``years`` 0 means at that end; ``None``
("never") means notifications plans no timer: the people are kept until erased on request.

The setting is read once at start: ``RETENTION_YEARS_<DISPOSITIF>`` (or
``NOTIFICATIONS_RETENTION_YEARS_<DISPOSITIF>``, which wins), a whole number of years or
``never``; a bad value or an unknown dispositif stops the start with the variable's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Mapping
from zoneinfo import ZoneInfo

from jumelage_contracts.reference import Academie, Dispositif, school_year_start_year

PREFIX = "RETENTION_YEARS_"
SERVICE_PREFIX = "NOTIFICATIONS_"
NEVER = "never"
MAX_YEARS = 100

# Three years after the end of the last school year, for every dispositif (README: why).
DEFAULT_YEARS: dict[Dispositif, int | None] = {d: 3 for d in Dispositif}


class RetentionSettingError(ValueError):
    """A retention variable the service cannot run with (raised at start)."""


def variable(dispositif: Dispositif) -> str:
    return PREFIX + dispositif.value.upper()


def _parse(name: str, value: str) -> int | None:
    text = value.strip().lower()
    if text == NEVER:
        return None
    if not text.isdigit() or int(text) > MAX_YEARS:
        raise RetentionSettingError(
            f"{name}={value!r}: give a whole number of years from 0 to {MAX_YEARS} after the partnership's end "
            f"(0: at the end of its last school year) or {NEVER!r}")
    return int(text)


@dataclass(frozen=True)
class RetentionPolicy:
    """Years each dispositif's people are kept after their partnership ends (None: never erased)."""

    by_dispositif: Mapping[Dispositif, int | None] = field(default_factory=lambda: dict(DEFAULT_YEARS))

    def years(self, dispositif: Dispositif | str) -> int | None:
        return self.by_dispositif.get(Dispositif(dispositif), DEFAULT_YEARS[Dispositif(dispositif)])

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "RetentionPolicy":
        known = {variable(d): d for d in Dispositif}
        for name in env:
            bare = name[len(SERVICE_PREFIX):] if name.startswith(SERVICE_PREFIX + PREFIX) else name
            if bare.startswith(PREFIX) and bare not in known:
                raise RetentionSettingError(f"{name}: no such dispositif; the retention variables are "
                                            + ", ".join(sorted(known)))
        years = dict(DEFAULT_YEARS)
        for name, dispositif in known.items():
            for source in (name, SERVICE_PREFIX + name):  # the service's own wins
                if source in env:
                    years[dispositif] = _parse(source, env[source])
        return cls(years)


def _zone(academie: str) -> ZoneInfo:
    return ZoneInfo(Academie(academie).time_zone)


def end_of_school_year(school_year: str, academie: str) -> datetime:
    """The instant 31 August of the school year ends in the académie (its next midnight)."""
    local = datetime.combine(date(school_year_start_year(school_year) + 1, 9, 1), time(0), _zone(academie))
    return local.astimezone(timezone.utc)


def retained_from(school_year: str, academie: str, ended_at: datetime | None) -> datetime:
    """When the retention of a partnership whose last year is ``school_year`` starts."""
    end = end_of_school_year(school_year, academie)
    return max(end, ended_at.astimezone(timezone.utc)) if ended_at is not None else end


def due_at(start: datetime, years: int, academie: str) -> datetime:
    """``years`` after ``start``, at the same local time in the académie (29 February: the 28th)."""
    local = start.astimezone(_zone(academie))
    try:
        moved = local.replace(year=local.year + years)
    except ValueError:
        moved = local.replace(year=local.year + years, day=28)
    # re-localise: the offset of the new date may differ (summer/winter time)
    naive = moved.replace(tzinfo=None)
    return naive.replace(tzinfo=_zone(academie)).astimezone(timezone.utc)


__all__ = ["DEFAULT_YEARS", "RetentionPolicy", "RetentionSettingError", "due_at", "end_of_school_year",
           "retained_from", "variable"]
