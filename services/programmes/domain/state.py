"""State of a partnership, folded from its events.

The partnership's life is ``Unopened | Running | Ended``; within a running partnership the current
school year is a :class:`Year`. Meetings and actions are unions of small dataclasses, one per
stage (planned, cancelled, held/completed), rather than one class with a status string.
Collections are plain dicts and tuples replaced (never mutated) by ``evolve``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Union

from jumelage_contracts.programmes import (
    BilanRecorded,
    BilanSideRecorded,
    ClassParticipation,
    MeetingKind,
    MeetingTiming,
    ReferentRole,
    Side,
)
from jumelage_contracts.candidatures import Organiser, SchoolRef
from jumelage_contracts.reference import ActionKind, CultureTier, Dispositif, Level


def with_(obj, **changes):
    """``dataclasses.replace`` without re-running ``__init__``: the fold's hot path (every event
    rebuilds the year) spends half its time there otherwise. The dataclasses here have no
    ``__post_init__`` nor slots, so copying the instance dict is equivalent."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


@dataclass(frozen=True)
class Identity:
    """Who the partnership twins: what authorisation and envelopes need."""

    partnership_id: str
    dispositif: Dispositif
    academie: str
    uai: str | None  # None: an ACM organiser's partnership held in dedicated places, without a school
    partner_id: str | None
    candidature_id: str
    associated_schools: tuple[SchoolRef, ...] = ()  # CNR: the other schools of the project
    # plan mercredi: the ACM organiser, who holds the school side (with its partner token)
    organiser: Organiser | None = None

    @property
    def uais(self) -> tuple[str, ...]:
        """Every school of the partnership: the one carrying it first."""
        return tuple(uai for uai in (self.uai, *(school.uai for school in self.associated_schools)) if uai)

    @property
    def organiser_id(self) -> str | None:
        return self.organiser.partner_id if self.organiser is not None else None


@dataclass(frozen=True)
class ClassInfo:
    class_id: str
    label: str
    level: Level
    pupils: int
    cancelled: bool = False


@dataclass(frozen=True)
class Referent:
    referent_id: str
    side: Side
    role: ReferentRole
    name: str
    email: str


@dataclass(frozen=True)
class Signature:
    side: Side
    signed_by: str
    signed_at: datetime
    engagements: tuple[str, ...] = ()


# -- meetings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedMeeting:
    meeting_id: str
    kind: MeetingKind
    starts_at: datetime
    place: str
    rencontre_number: int | None = None
    timing: MeetingTiming | None = None


@dataclass(frozen=True)
class HeldMeeting:
    meeting_id: str
    kind: MeetingKind
    starts_at: datetime
    held_at: datetime
    rencontre_number: int | None = None
    timing: MeetingTiming | None = None


@dataclass(frozen=True)
class CancelledMeeting:
    meeting_id: str
    kind: MeetingKind
    starts_at: datetime
    rencontre_number: int | None = None
    timing: MeetingTiming | None = None


Meeting = Union[PlannedMeeting, HeldMeeting, CancelledMeeting]


# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedAction:
    action_id: str
    kind: ActionKind
    class_ids: tuple[str, ...]
    starts_at: datetime
    duration_minutes: int
    place: str
    title: str


@dataclass(frozen=True)
class CancelledAction:
    action_id: str
    kind: ActionKind
    class_ids: tuple[str, ...]
    starts_at: datetime
    reason: str
    duration_minutes: int = 0
    place: str = ""
    title: str = ""


@dataclass(frozen=True)
class CompletedAction:
    action_id: str
    kind: ActionKind
    class_ids: tuple[str, ...]
    starts_at: datetime
    completed_at: datetime
    realised_class_ids: tuple[str, ...] = ()  # scheduled classes minus those cancelled meanwhile
    participants: tuple[ClassParticipation, ...] = ()
    duration_minutes: int = 0
    place: str = ""
    title: str = ""


Action = Union[PlannedAction, CancelledAction, CompletedAction]


@dataclass(frozen=True)
class Funding:
    funding_id: str
    requested_eur: int
    granted_eur: int | None = None
    spent_eur: int = 0
    expenses: dict[str, int] = field(default_factory=dict)  # expense_id -> EUR: each expense counts once


@dataclass(frozen=True)
class Year:
    """One school year of the partnership."""

    school_year: str
    year_index: int
    starts_on: date
    ends_on: date
    tier: CultureTier | None
    classes: dict[str, ClassInfo]
    # The campaign calendar's windows (first and last day) of the work and bilan meetings.
    meeting_windows: dict[MeetingKind, tuple[date, date]] = field(default_factory=dict)
    referents: dict[str, Referent] = field(default_factory=dict)
    signatures: dict[Side, Signature] = field(default_factory=dict)
    meetings: dict[str, Meeting] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)
    # Per class: actions dropped for that class by its cancellation (the action may go on for others).
    dropped_by_class: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bilan: BilanRecorded | None = None
    bilan_parts: dict[Side, BilanSideRecorded] = field(default_factory=dict)
    steps_done: tuple[str, ...] = ()
    # Plan mercredi: what the bilan step decided (« reconduction ou non »); None until it says.
    reconduction: bool | None = None
    funding: dict[str, Funding] = field(default_factory=dict)

    @property
    def bilan_recorded(self) -> bool:
        return self.bilan is not None

    @property
    def fully_signed(self) -> bool:
        return Side.school in self.signatures and Side.partner in self.signatures

    def stamp(self, partnership_id: str) -> dict:
        """The fields every event of this year carries."""
        return {"partnership_id": partnership_id, "school_year": self.school_year, "year_index": self.year_index}


@dataclass(frozen=True)
class Unopened:
    """No attribution has reached programmes yet."""


@dataclass(frozen=True)
class Running:
    identity: Identity
    year: Year
    past_years: tuple[Year, ...] = ()


@dataclass(frozen=True)
class Ended:
    identity: Identity
    year: Year
    past_years: tuple[Year, ...] = ()
    reason: str = ""


State = Union[Unopened, Running, Ended]
