"""What a projection step produces: dated facts, subject dimensions, timeline entries, state.

The read model is an append-only ledger of dated deltas (:class:`Fact`): an indicator "as of D" is
the sum of its facts whose ``day`` is on or before D. Nothing is ever updated in place, so the past
stays answerable and a rebuild from the events writes exactly the same rows.

Facts hang off a *subject* (a campaign, candidature, partnership, offer or reminder) whose
fixed dimensions (académie, département, dispositif, the partnership's EAC domains…) live once in
:class:`Dims` and are joined at query time. What can change over a subject's life — a school's
éducation prioritaire and rurality (a new carte, an amended candidature), a candidature's EAC
domains (another offer chosen) — is carried by each fact instead (``ep``, ``ruralite``,
``domains``), so that a figure as of D classifies everything as it stood at D. That keeps the projection independent of the order in
which the three sources' events arrive relative to each other: a programmes fact about a
partnership counts under the right académie whether candidatures' attribution was applied before
or after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Incoming:
    """The part of an envelope a projection step reads."""

    event_id: str
    type: str
    source: str
    stream_id: str
    occurred_at: datetime
    day: date
    academie: str | None
    data: dict[str, Any]
    position: int | None = None
    recorded_at: datetime | None = None  # when the producing service stored it (orders equal instants)


@dataclass(frozen=True)
class Fact:
    """A delta of one indicator, effective on ``day`` (set by the projector from the event)."""

    subject: str
    metric: str
    n: int = 1
    amount: int = 0
    school_year: str | None = None
    year_index: int | None = None
    level: str | None = None
    kind: str | None = None
    month: str | None = None
    class_ref: str | None = None
    day: date | None = None  # None: the event's day; set for facts dated elsewhere (deadlines)
    # The classification as it stood when the fact happened; None: the subject's (joined).
    ep: str | None = None
    ruralite: str | None = None
    domains: int | None = None  # bitmask, see domain_mask


@dataclass(frozen=True)
class Dims:
    """Dimensions of a subject. ``None`` fields leave what is already known untouched."""

    subject: str
    kind: str
    academie: str | None = None
    departement: str | None = None
    dispositif: str | None = None
    school_year: str | None = None
    domains: int | None = None  # bitmask, see domain_mask
    ep: str | None = None
    ruralite: str | None = None
    uai: str | None = None
    school_name: str | None = None
    partner_name: str | None = None
    label: str | None = None
    parent: str | None = None  # a partnership's candidature subject (its history before attribution)


def domain_mask(domains: Any) -> int:
    """EAC domains as a bitmask: bit d for domain d (1..17), bit 0 alone for "no domain". A
    subject with several domains counts once in each (and once in totals)."""
    mask = 0
    for d in domains or []:
        mask |= 1 << int(d)
    return mask or 1


def mask_domains(mask: int | None) -> list[int]:
    """The EAC domains a mask names: ``[]`` for "no domain" (bit 0 is where such a subject counts
    in a breakdown by domain, not a domain)."""
    return [d for d in range(1, 18) if mask and mask & (1 << d)]


@dataclass(frozen=True)
class Entry:
    """One line of a subject's timeline."""

    subject: str
    type: str
    summary: str


@dataclass(frozen=True)
class Redaction:
    """The timeline line an event wrote, said again without the person (an erasure): same line,
    same date, the person's values as « personne effacée »."""

    event_id: str
    type: str
    summary: str


@dataclass(frozen=True)
class Answer:
    """One side's answer to one question of the end-of-year questionnaire, for one
    partnership-year (``reporting.domain.questionnaire`` says how answers are normalised)."""

    subject: str
    school_year: str
    side: str
    question: str
    answer: str | None  # the normalised short answer; None: a free text (longer than a short choice)
    ep: str | None = None
    ruralite: str | None = None


@dataclass(frozen=True)
class Rencontre:
    """A meeting held that the centres sociaux figure lists: a rencontre, or any meeting that
    recorded productions (title, kind, link)."""

    subject: str
    school_year: str
    year_index: int | None
    meeting_id: str
    kind: str
    number: int | None  # 1st, 2nd or 3rd rencontre (from its MeetingScheduled)
    held_on: date
    title: str | None
    productions: list[dict[str, Any]]
    ep: str | None = None
    ruralite: str | None = None


@dataclass
class Effects:
    facts: list[Fact] = field(default_factory=list)
    dims: list[Dims] = field(default_factory=list)
    timeline: list[Entry] = field(default_factory=list)
    state: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None deletes
    answers: list[Answer] = field(default_factory=list)
    rencontres: list[Rencontre] = field(default_factory=list)
    redactions: list[Redaction] = field(default_factory=list)


METRICS = (
    "campaigns_opened", "campaigns_closed", "offers_published", "offers_withdrawn",
    "candidatures_submitted", "candidatures_withdrawn", "candidatures_attributed", "candidatures_rejected",
    "candidatures_returned", "candidatures_awaiting_correction", "avis_recorded", "attributions_late", "places_released",
    "partnerships_active", "classes_reached", "partnerships_ended",
    "renewals_requested", "renewals_granted", "renewals_declined",
    "actions_planned", "actions_realised", "actions_cancelled", "participants",
    "meetings_scheduled", "meetings_held", "conventions_signed", "referents_designated",
    "bilans_recorded", "satisfaction", "wish_to_continue", "programme_years_closed",
    "reminders_scheduled", "reminders_sent", "reminders_failed", "reminders_cancelled",
    "work_meeting_due", "bilan_due", "cnr_concertation", "cnr_projet_pedagogique", "cnr_financement",
    "funds_requested", "funds_granted", "funds_spent",  # CNR, amount in euros (reporting.adapters.figures)
)
