"""The states of a candidature: one small class per lifecycle stage (see ``candidature.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from jumelage_contracts.candidatures import CandidatureReviewed
from jumelage_contracts.reference import Dispositif

from .rules import CandidatureContent


@dataclass(frozen=True)
class Header:
    candidature_id: str
    campaign_id: str
    dispositif: Dispositif


@dataclass(frozen=True)
class NoCandidature:
    pass


@dataclass(frozen=True)
class Draft:
    header: Header
    content: CandidatureContent


@dataclass(frozen=True)
class Submitted:
    header: Header
    content: CandidatureContent
    resubmitted: bool = False


@dataclass(frozen=True)
class ReturnedForCorrection:
    header: Header
    content: CandidatureContent
    reason: str


@dataclass(frozen=True)
class UnderReview:
    header: Header
    content: CandidatureContent
    reviews: tuple[CandidatureReviewed, ...]


@dataclass(frozen=True)
class Attributed:
    header: Header
    content: CandidatureContent
    partnership_id: str


@dataclass(frozen=True)
class Rejected:
    header: Header
    content: CandidatureContent
    reason: str


@dataclass(frozen=True)
class Withdrawn:
    header: Header
    content: CandidatureContent


CandidatureState = NoCandidature | Draft | Submitted | ReturnedForCorrection | UnderReview | Attributed | Rejected | Withdrawn
PENDING = (Submitted, UnderReview)  # awaiting the académie's decision
DECIDED = (Attributed, Rejected)
