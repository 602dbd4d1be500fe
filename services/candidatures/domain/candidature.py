"""Candidature decider: a school's application to a campaign, up to the académie's decision.

Draft → Submitted → (ReturnedForCorrection → Submitted again) → UnderReview → Attributed | Rejected;
Withdrawn at any time before the decision. Amendments only before the campaign's deadline.
Attribution spans two streams (the candidature and the offer): see ``attribution.py``.
"""

from __future__ import annotations


from jumelage_contracts.candidatures import (
    CandidatureAmended,
    CandidatureDrafted,
    CandidatureRejected,
    CandidatureResubmitted,
    CandidatureReturnedForCorrection,
    CandidatureReviewed,
    CandidatureSubmitted,
    CandidatureWithdrawn,
    PartnershipAttributed,
)

from . import offer as offer_decider
from .campaign import NoCampaign, campaign_accepts_submissions
from .candidature_commands import (  # noqa: F401 - the decider's commands, re-exported
    DraftCandidature,
    SubmitCandidature,
    AmendCandidature,
    ResubmitCandidature,
    WithdrawCandidature,
    ReturnForCorrection,
    ReviewCandidature,
    RejectCandidature,
)
from .candidature_state import (  # noqa: F401 - the decider's states, re-exported
    Header,
    NoCandidature,
    Draft,
    Submitted,
    ReturnedForCorrection,
    UnderReview,
    Attributed,
    Rejected,
    Withdrawn,
    CandidatureState,
    PENDING,
    DECIDED,
)
from .errors import DomainError, NotFound, StateConflict
from .rules import (
    CandidatureContent,
    classes_must_fit_the_offer_levels,
    content_must_follow_the_dispositif,
    every_school_must_belong_to_the_campaign_academie,
)

# -- rules ----------------------------------------------------------------------------------


def candidature_must_exist(state: CandidatureState):
    if isinstance(state, NoCandidature):
        raise NotFound("candidature_must_exist", "no such candidature", "candidature_id")
    return state


def wished_offer_must_be_open_in_the_campaign(offer, campaign_id: str, content: CandidatureContent) -> None:
    if content.offer_id is None:
        return
    if not isinstance(offer, offer_decider.Published) or offer.offer.campaign_id != campaign_id:
        raise DomainError("wished_offer_must_be_open_in_the_campaign",
                          "the offer wished is not open in this campaign", "offer_id")
    classes_must_fit_the_offer_levels(content.entries, offer.offer.levels,
                                      "organiser.groups" if content.organiser is not None else "classes")


def content_is_acceptable(cmd: DraftCandidature) -> Header:
    """Campaign open and before its deadline (a CNR campaign: within its school year), every
    school of the campaign's académie, content following
    the dispositif's rules, wished offer open."""
    opened = campaign_accepts_submissions(cmd.campaign, cmd.now).opened
    every_school_must_belong_to_the_campaign_academie(cmd.content, opened.academie)
    content_must_follow_the_dispositif(opened.dispositif, cmd.content)
    wished_offer_must_be_open_in_the_campaign(cmd.offer, opened.campaign_id, cmd.content)
    return Header(cmd.candidature_id, opened.campaign_id, opened.dispositif)


def decision_not_taken_yet(state, action: str) -> None:
    if isinstance(state, DECIDED):
        raise StateConflict("decided_candidature_is_final", f"cannot {action}: the candidature was decided")
    if isinstance(state, Withdrawn):
        raise StateConflict("withdrawn_candidature_is_final", f"cannot {action}: the candidature was withdrawn")


# -- decider --------------------------------------------------------------------------------


def decide(command, state: CandidatureState) -> list:
    handler = _HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"unknown candidature command {command!r}")
    return handler(command, state)


def _event(kind, header: Header, content: CandidatureContent):
    return kind(candidature_id=header.candidature_id, campaign_id=header.campaign_id,
                dispositif=header.dispositif, **content.as_fields())


def _draft(cmd: DraftCandidature, state: CandidatureState) -> list:
    if isinstance(state, Draft) and state.content == cmd.content:
        return []
    if not isinstance(state, (NoCandidature, Draft)):
        raise StateConflict("only_a_draft_can_be_redrafted", "the candidature was already submitted")
    return [_event(CandidatureDrafted, content_is_acceptable(cmd), cmd.content)]


def _submit(cmd: SubmitCandidature, state: CandidatureState) -> list:
    if isinstance(state, PENDING) and state.content == cmd.content:
        return []
    if not isinstance(state, (NoCandidature, Draft)):
        raise StateConflict("submit_only_once", "the candidature was already submitted: amend it")
    return [_event(CandidatureSubmitted, content_is_acceptable(cmd), cmd.content)]


def _amend(cmd: AmendCandidature, state: CandidatureState) -> list:
    candidature_must_exist(state)
    if isinstance(state, Submitted) and state.content == cmd.content:
        return []
    if not isinstance(state, Submitted):
        raise StateConflict("amend_only_a_submitted_candidature",
                            "only a submitted candidature not yet under review can be amended")
    header = content_is_acceptable(cmd)  # includes: only before the deadline
    return [_event(CandidatureAmended, header, cmd.content)]


def _resubmit(cmd: ResubmitCandidature, state: CandidatureState) -> list:
    candidature_must_exist(state)
    if isinstance(state, Submitted) and state.resubmitted and state.content == cmd.content:
        return []
    if not isinstance(state, ReturnedForCorrection):
        raise StateConflict("resubmit_only_after_a_return", "the candidature was not returned for correction")
    # A correction is asked for by the académie, usually after the deadline: the deadline does
    # not apply, but the campaign must still exist and the content must follow the rules.
    if isinstance(cmd.campaign, NoCampaign):
        raise NotFound("campaign_must_exist", "no such campaign", "campaign_id")
    every_school_must_belong_to_the_campaign_academie(cmd.content, cmd.campaign.opened.academie)
    content_must_follow_the_dispositif(state.header.dispositif, cmd.content)
    wished_offer_must_be_open_in_the_campaign(cmd.offer, state.header.campaign_id, cmd.content)
    return [_event(CandidatureResubmitted, state.header, cmd.content)]


def _withdraw(cmd: WithdrawCandidature, state: CandidatureState) -> list:
    candidature_must_exist(state)
    if isinstance(state, Withdrawn):
        return []
    decision_not_taken_yet(state, "withdraw")
    return [CandidatureWithdrawn(candidature_id=state.header.candidature_id,
                                 campaign_id=state.header.campaign_id, reason=cmd.reason)]


def _return(cmd: ReturnForCorrection, state: CandidatureState) -> list:
    candidature_must_exist(state)
    if isinstance(state, ReturnedForCorrection) and state.reason == cmd.reason:
        return []
    decision_not_taken_yet(state, "return it for correction")
    if not isinstance(state, PENDING):
        raise StateConflict("return_only_a_pending_candidature", "only a submitted candidature can be returned")
    return [CandidatureReturnedForCorrection(candidature_id=state.header.candidature_id,
                                             campaign_id=state.header.campaign_id, reason=cmd.reason)]


def _review(cmd: ReviewCandidature, state: CandidatureState) -> list:
    candidature_must_exist(state)
    decision_not_taken_yet(state, "review it")
    if not isinstance(state, PENDING):
        raise StateConflict("review_only_a_pending_candidature", "only a submitted candidature can be reviewed")
    event = CandidatureReviewed(candidature_id=state.header.candidature_id, campaign_id=state.header.campaign_id,
                                reviewer=cmd.reviewer, avis=cmd.avis, comment=cmd.comment)
    if isinstance(state, UnderReview) and state.reviews and state.reviews[-1] == event:
        return []
    return [event]


def _reject(cmd: RejectCandidature, state: CandidatureState) -> list:
    candidature_must_exist(state)
    if isinstance(state, Rejected):
        return []
    if isinstance(state, Attributed):
        raise StateConflict("attributed_candidature_cannot_be_rejected", "the candidature was attributed")
    decision_not_taken_yet(state, "reject it")
    if isinstance(state, Draft):
        raise StateConflict("reject_only_a_submitted_candidature", "a draft is not yet submitted")
    return [CandidatureRejected(candidature_id=state.header.candidature_id,
                                campaign_id=state.header.campaign_id, reason=cmd.reason)]


_HANDLERS = {
    DraftCandidature: _draft, SubmitCandidature: _submit, AmendCandidature: _amend,
    ResubmitCandidature: _resubmit, WithdrawCandidature: _withdraw, ReturnForCorrection: _return,
    ReviewCandidature: _review, RejectCandidature: _reject,
}


def evolve(state: CandidatureState, event) -> CandidatureState:
    if isinstance(event, (CandidatureDrafted, CandidatureSubmitted, CandidatureAmended, CandidatureResubmitted)):
        header = Header(event.candidature_id, event.campaign_id, event.dispositif)
        content = CandidatureContent.of(event)
        if isinstance(event, CandidatureDrafted):
            return Draft(header, content)
        return Submitted(header, content, resubmitted=isinstance(event, CandidatureResubmitted)
                         or getattr(state, "resubmitted", False))
    if isinstance(state, NoCandidature):
        return state
    if isinstance(event, CandidatureWithdrawn):
        return Withdrawn(state.header, state.content)
    if isinstance(event, CandidatureReturnedForCorrection):
        return ReturnedForCorrection(state.header, state.content, event.reason)
    if isinstance(event, CandidatureReviewed):
        previous = state.reviews if isinstance(state, UnderReview) else ()
        return UnderReview(state.header, state.content, previous + (event,))
    if isinstance(event, PartnershipAttributed):
        return Attributed(state.header, state.content, event.partnership_id)
    if isinstance(event, CandidatureRejected):
        return Rejected(state.header, state.content, event.reason)
    return state  # renewal events belong to the partnership (renewal.py)


def fold(events) -> CandidatureState:
    state: CandidatureState = NoCandidature()
    for event in events:
        state = evolve(state, event)
    return state
