"""The commands of the candidature decider (see ``candidature.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jumelage_contracts.reference import Avis

from . import offer as offer_decider
from .campaign import CampaignState
from .rules import CandidatureContent


@dataclass(frozen=True)
class DraftCandidature:
    candidature_id: str
    campaign: CampaignState
    offer: offer_decider.OfferState | None
    content: CandidatureContent
    now: datetime


@dataclass(frozen=True)
class SubmitCandidature(DraftCandidature):
    """Submit a new candidature, or a draft (with its final content)."""


@dataclass(frozen=True)
class AmendCandidature(DraftCandidature):
    pass


@dataclass(frozen=True)
class ResubmitCandidature(DraftCandidature):
    pass


@dataclass(frozen=True)
class WithdrawCandidature:
    candidature_id: str
    reason: str | None
    now: datetime


@dataclass(frozen=True)
class ReturnForCorrection:
    candidature_id: str
    reason: str
    now: datetime


@dataclass(frozen=True)
class ReviewCandidature:
    candidature_id: str
    reviewer: str
    avis: Avis
    comment: str | None
    now: datetime


@dataclass(frozen=True)
class RejectCandidature:
    candidature_id: str
    reason: str
    now: datetime
