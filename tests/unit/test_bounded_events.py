"""Guard (issue 10) over every registered event: a field added without a bound fails here.

``STILL_OPEN`` is the snapshot of event fields not bounded yet (mostly ids, derived counts and the
lists of classes copied from candidatures). History loads whatever they get (``bounds.STORED``),
so closing one is a type change in the model and a schema regeneration. The list may only shrink."""

from __future__ import annotations

import pytest

from jumelage_contracts import load_all
from test_bounded_bodies import unbounded_fields

STILL_OPEN = {
    "ActionCancelled.action_id", "ActionCompleted.action_id", "ActionRescheduled.action_id",
    "ActionScheduled.audiences", "BilanRecorded.bilan_meeting_id", "BilanRecorded.cancelled",
    "BilanRecorded.per_class", "BilanRecorded.per_kind", "BilanRecorded.planned",
    "BilanRecorded.pupils_reached", "BilanRecorded.questionnaire", "BilanRecorded.realised",
    "CampaignClosed.campaign_id", "CampaignOpened.campaign_id", "CampaignOpened.opened_by",
    "CampaignOpened.title", "CandidatureAmended.campaign_id", "CandidatureAmended.candidature_id",
    "CandidatureAmended.classes", "CandidatureAmended.offer_id", "CandidatureDrafted.campaign_id",
    "CandidatureDrafted.candidature_id", "CandidatureDrafted.classes", "CandidatureDrafted.offer_id",
    "CandidatureRejected.campaign_id", "CandidatureRejected.candidature_id",
    "CandidatureResubmitted.campaign_id", "CandidatureResubmitted.candidature_id",
    "CandidatureResubmitted.classes", "CandidatureResubmitted.offer_id",
    "CandidatureReturnedForCorrection.campaign_id", "CandidatureReturnedForCorrection.candidature_id",
    "CandidatureReviewed.campaign_id", "CandidatureReviewed.candidature_id", "CandidatureSubmitted.campaign_id",
    "CandidatureSubmitted.candidature_id", "CandidatureSubmitted.classes", "CandidatureSubmitted.offer_id",
    "CandidatureWithdrawn.campaign_id", "CandidatureWithdrawn.candidature_id", "ClassBilan.cancelled",
    "ClassBilan.class_id", "ClassBilan.label", "ClassBilan.planned", "ClassBilan.pupils",
    "ClassBilan.pupils_reached", "ClassBilan.realised", "ConventionSigned.engagements_accepted",
    "FundingGranted.amount_eur", "FundingGranted.funding_id", "FundingRequested.funding_id",
    "FundingSpent.amount_eur", "FundingSpent.funding_id", "FundingSpent.total_spent_eur", "KindBilan.cancelled",
    "KindBilan.planned", "KindBilan.realised", "MeetingCancelled.meeting_id", "MeetingHeld.meeting_id",
    "MeetingRescheduled.meeting_id", "OfferCapacityReserved.campaign_id",
    "OfferCapacityReserved.candidature_id", "OfferCapacityReserved.classes", "OfferCapacityReserved.offer_id",
    "OfferCapacityReserved.partnership_id", "OfferCapacityReserved.remaining_classes",
    "OfferPlacesReleased.campaign_id", "OfferPlacesReleased.candidature_id", "OfferPlacesReleased.classes",
    "OfferPlacesReleased.offer_id", "OfferPlacesReleased.partnership_id",
    "OfferPlacesReleased.remaining_classes", "OfferPublished.audiences", "OfferPublished.campaign_id",
    "OfferPublished.eac_domains", "OfferPublished.levels", "OfferPublished.offer_id",
    "OfferPublished.time_slots", "OfferUpdated.audiences", "OfferUpdated.campaign_id",
    "OfferUpdated.eac_domains", "OfferUpdated.levels", "OfferUpdated.offer_id", "OfferUpdated.time_slots",
    "OfferWithdrawn.campaign_id", "OfferWithdrawn.offer_id", "PartnershipAttributed.campaign_id",
    "PartnershipAttributed.candidature_id", "PartnershipAttributed.classes", "PartnershipAttributed.offer_id",
    "PartnershipAttributed.partnership_id", "PartnershipAttributed.year_index",
    "PartnershipBilanNoted.bilan_event_id", "PartnershipBilanNoted.partnership_id",
    "PartnershipBilanNoted.year_index", "PartnershipEnded.years", "ProgrammeYearOpened.campaign_id",
    "ProgrammeYearOpened.candidature_id", "ProgrammeYearOpened.caused_by", "ProgrammeYearOpened.classes",
    "ProgrammeYearOpened.offer_id", "ReferentDesignated.replaces", "ReminderCancelled.dedup_key",
    "ReminderCancelled.reminder_id", "ReminderCancelled.rule", "ReminderFailed.attempt",
    "ReminderFailed.dedup_key", "ReminderFailed.reminder_id", "ReminderFailed.rule",
    "ReminderScheduled.caused_by", "ReminderScheduled.recipients", "ReminderScheduled.reminder_id",
    "ReminderSent.attempt", "ReminderSent.dedup_key", "ReminderSent.message_id", "ReminderSent.recipients",
    "ReminderSent.reminder_id", "ReminderSent.rule", "RenewalDeclined.candidature_id",
    "RenewalDeclined.partnership_id", "RenewalDeclined.year_index", "RenewalGranted.candidature_id",
    "RenewalGranted.classes", "RenewalGranted.partnership_id", "RenewalGranted.year_index",
    "RenewalRequested.candidature_id", "RenewalRequested.classes", "RenewalRequested.partnership_id",
    "RenewalRequested.year_index", "SubjectRef.action_id", "SubjectRef.campaign_id", "SubjectRef.meeting_id",
    "SubjectRef.partnership_id", "SubjectRef.uai",
}


@pytest.mark.parametrize("model", sorted(load_all().values(), key=lambda m: m.__name__), ids=lambda m: m.__name__)
def test_every_new_field_of_an_event_is_bounded(model):
    assert unbounded_fields(model) - STILL_OPEN == set()


def test_the_open_list_only_names_fields_still_open():
    still = set().union(*(unbounded_fields(m) for m in load_all().values()))
    assert STILL_OPEN - still == set(), "bounded since: remove them from STILL_OPEN"
