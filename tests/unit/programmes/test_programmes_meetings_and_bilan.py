"""Given/when/then: meetings, the bilan computed from the events, mercredi and CNR steps, funding."""

from __future__ import annotations

from datetime import date

from jumelage_contracts.programmes import (
    ClassParticipation,
    MeetingKind,
    MeetingTiming,
    Production,
    ProductionKind,
    SideEvaluation,
    StepTrack,
)
from jumelage_contracts import parse_payload
from programmes.domain import commands as c
from programmes_builders import at, events_after, given, given_events_of, open_year, opened, schedule

GOOD = SideEvaluation(satisfaction=5, comments="Tres bien", wish_to_continue=True)
FAIR = SideEvaluation(satisfaction=3, comments=None, wish_to_continue=False)


def bilan_meeting(now=None, meeting_id="mtg-bilan"):
    return c.ScheduleMeeting(meeting_id, MeetingKind.bilan, at(2026, 6, 2, 17), "Ecole", now or at(2026, 5, 1))


def held(meeting_id="mtg-bilan", now=None):
    return c.HoldMeeting(meeting_id, "Bilan de l'annee", now or at(2026, 6, 2, 19))


def test_a_work_meeting_is_scheduled_inside_the_year():
    meeting = c.ScheduleMeeting("mtg-work", MeetingKind.work, at(2025, 9, 30, 15), "Ecole", at(2025, 9, 10))
    given(opened()).when(meeting).then_types("MeetingScheduled")


def test_a_meeting_outside_the_school_year_is_refused():
    meeting = c.ScheduleMeeting("mtg-work", MeetingKind.work, at(2025, 8, 20, 15), "Ecole", at(2025, 7, 20))
    given(opened()).when(meeting).raises("meeting_within_the_school_year")


def test_a_meeting_is_held_once_it_has_started():
    history = given_events_of(open_year(), bilan_meeting())
    given(history).when(held(now=at(2026, 6, 1))).raises("a_meeting_is_held_once_it_has_started")


def test_a_cancelled_meeting_cannot_be_held():
    history = given_events_of(open_year(), bilan_meeting(), c.CancelMeeting("mtg-bilan", "absents", at(2026, 5, 30)))
    given(history).when(held()).raises("meeting_must_still_be_planned")


def test_rencontres_belong_to_centres_sociaux_and_are_numbered_once():
    rencontre = c.ScheduleMeeting("r1", MeetingKind.rencontre, at(2026, 3, 12), "Centre social", at(2026, 1, 5),
                                  rencontre_number=1)
    given(opened()).when(rencontre).raises("rencontres_are_for_centres_sociaux")
    history = given_events_of(open_year("centre_social"), rencontre)
    again = c.ScheduleMeeting("r1-bis", MeetingKind.rencontre, at(2026, 3, 19), "Centre social", at(2026, 1, 5),
                              rencontre_number=1)
    given(history).when(again).raises("each_rencontre_is_planned_once")


def rencontre(number: int, day: date, meeting_id: str | None = None) -> c.ScheduleMeeting:
    return c.ScheduleMeeting(meeting_id or f"r{number}", MeetingKind.rencontre, at(day.year, day.month, day.day, 9),
                             "Centre social", at(day.year, day.month, 1), rencontre_number=number)


def centre_social_year_two(*year_one_commands) -> list:
    """Year 1 (2025-2026) with the given commands, then year 2 (2026-2027) opened by a renewal."""
    year_one = given_events_of(open_year("centre_social"), *year_one_commands)
    return year_one + events_after(year_one, open_year("centre_social", year_index=2, start_year=2026,
                                                       now=at(2026, 7, 8)))


def test_the_rencontres_run_from_a_spring_to_the_start_of_the_next_calendar_year_across_two_school_years():
    # seed 002: 1st in spring, 2nd in autumn (« jeudi 4 octobre »), 3rd « en début année » next year
    history = centre_social_year_two(rencontre(1, date(2026, 3, 12)))
    second = given(history).when(rencontre(2, date(2026, 10, 1))).then_types("MeetingScheduled")
    assert (second[0].school_year, second[0].year_index, second[0].rencontre_number) == ("2026-2027", 2, 2)
    third = given(history + second).when(rencontre(3, date(2027, 1, 14))).then_types("MeetingScheduled")
    assert third[0].rencontre_number == 3
    given(history + second + third).when(rencontre(1, date(2027, 3, 11), "r1-again")).raises(
        "each_rencontre_is_planned_once")


def test_the_rencontres_keep_their_order_across_the_years():
    history = centre_social_year_two(rencontre(1, date(2026, 3, 12)), rencontre(2, date(2026, 5, 4)))
    given(history).when(rencontre(3, date(2026, 9, 10))).then_types("MeetingScheduled")
    year_one = given_events_of(open_year("centre_social"), rencontre(2, date(2026, 3, 12)))
    given(year_one).when(rencontre(1, date(2026, 4, 2))).raises("rencontres_keep_their_order")
    given(year_one).when(rencontre(3, date(2026, 2, 2))).raises("rencontres_keep_their_order")
    both = year_one + events_after(year_one, rencontre(3, date(2026, 6, 2)))
    given(both).when(c.RescheduleMeeting("r3", at(2026, 3, 1, 9), at(2026, 2, 20))).raises(
        "rencontres_keep_their_order")
    given(both).when(c.RescheduleMeeting("r3", at(2026, 6, 9, 9), at(2026, 2, 20))).then_types("MeetingRescheduled")


def test_a_cancelled_rencontre_frees_its_number_for_the_next_year():
    history = centre_social_year_two(rencontre(1, date(2026, 3, 12)),
                                     c.CancelMeeting("r1", "centre social ferme", at(2026, 3, 1)))
    given(history).when(rencontre(1, date(2026, 11, 5), "r1-report")).then_types("MeetingScheduled")


def test_a_rencontre_records_its_productions():
    rencontre = c.ScheduleMeeting("r2", MeetingKind.rencontre, at(2025, 10, 4), "Centre social", at(2025, 9, 5),
                                  rencontre_number=2)
    history = given_events_of(open_year("centre_social"), rencontre)
    video = Production(kind=ProductionKind.video, title="Ce qui fait que ca marche")
    events = given(history).when(c.HoldMeeting("r2", "Productions validees", at(2025, 10, 4, 12), ("A", "B"),
                                               (video,))).then_types("MeetingHeld")
    assert events[0].productions[0].kind == "video"


def test_the_bilan_requires_the_bilan_meeting_held():
    history = given_events_of(open_year(), bilan_meeting())
    given(history).when(c.RecordBilan(GOOD, GOOD, at(2026, 6, 3))).raises("bilan_requires_the_bilan_meeting_held")


def test_the_bilan_counts_planned_and_realised_per_class_from_the_events():
    history = given_events_of(
        open_year(),
        schedule("a1", ("cm1-a",)), schedule("a2", ("cm1-a", "cm2-b"), kind="workshop"), schedule("a3", ("cm2-b",)),
        c.CompleteAction("a1", at(2025, 11, 18, 12), (ClassParticipation(class_id="cm1-a", pupils_present=23),)),
        c.CompleteAction("a2", at(2025, 11, 18, 12), (ClassParticipation(class_id="cm1-a", pupils_present=24),
                                                      ClassParticipation(class_id="cm2-b", pupils_present=20))),
        c.CancelAction("a3", "intervenant absent", at(2025, 11, 1)),
        bilan_meeting(), held(),
    )
    events = given(history).when(c.RecordBilan(GOOD, FAIR, at(2026, 6, 3))).then_types("BilanRecorded")
    bilan = events[0]
    per_class = {row.class_id: (row.planned, row.realised, row.cancelled, row.pupils_reached) for row in bilan.per_class}
    assert per_class == {"cm1-a": (2, 2, 0, 47), "cm2-b": (2, 1, 1, 20)}
    assert (bilan.planned, bilan.realised, bilan.cancelled, bilan.pupils_reached) == (3, 2, 1, 67)
    assert {k.kind: (k.planned, k.realised) for k in bilan.per_kind} == {"visit": (2, 1), "workshop": (1, 1)}
    assert bilan.wish_to_continue is False and bilan.bilan_meeting_id == "mtg-bilan"


def test_no_bilan_twice_for_a_year():
    history = given_events_of(open_year(), bilan_meeting(), held(), c.RecordBilan(GOOD, GOOD, at(2026, 6, 3)))
    given(history).when(c.RecordBilan(GOOD, GOOD, at(2026, 6, 4))).then([])
    given(history).when(c.RecordBilan(GOOD, FAIR, at(2026, 6, 4))).raises("no_bilan_twice_for_a_year")


def test_plan_mercredi_follows_its_five_steps_in_order():
    history = given_events_of(open_year("mercredi"))
    given(history).when(c.CompleteStep(StepTrack.mercredi, "formalisation", "convention", at(2025, 9, 10))).raises(
        "steps_follow_their_order")
    steps = ["objectifs", "recherche_partenaires", "formalisation", "animation"]
    history = given_events_of(open_year("mercredi"), *[
        c.CompleteStep(StepTrack.mercredi, s, f"etape {s}", at(2025, 9, 10 + i)) for i, s in enumerate(steps)])
    given(history).when(c.CompleteStep(StepTrack.mercredi, "bilan", "bilan", at(2026, 6, 1))).raises(
        "the_mercredi_bilan_decides_reconduction")
    events = given(history).when(c.CompleteStep(StepTrack.mercredi, "bilan", "bilan positif", at(2026, 6, 1),
                                                reconduction=True)).then_types("StepCompleted")
    assert events[0].step_number == 5


def test_mercredi_steps_do_not_apply_to_a_culture_jumelage():
    given(opened()).when(c.CompleteStep(StepTrack.mercredi, "objectifs", "x", at(2025, 9, 10))).raises(
        "steps_belong_to_the_dispositif")


def test_cnr_funding_is_requested_after_the_pedagogical_project_then_granted_and_spent_within_the_grant():
    concertation = given_events_of(open_year("concertation"),
                                   c.CompleteStep(StepTrack.concertation, "concertation", "3 soirees", at(2025, 11, 20)))
    given(concertation).when(c.RequestFunding("f1", 4500, at(2025, 12, 1))).raises(
        "funding_requires_the_pedagogical_project")
    funded = given_events_of(
        open_year("concertation"),
        c.CompleteStep(StepTrack.concertation, "concertation", "3 soirees", at(2025, 11, 20)),
        c.CompleteStep(StepTrack.concertation, "projet_pedagogique", "theatre", at(2025, 11, 28)),
        c.RequestFunding("f1", 4500, at(2025, 12, 1)),
    )
    given(funded).when(c.GrantFunding("f1", 5000, "Rectorat", at(2026, 1, 20))).raises(
        "a_grant_does_not_exceed_the_request")
    granted = funded + given(funded).when(c.GrantFunding("f1", 4000, "Rectorat", at(2026, 1, 20))).then_types(
        "FundingGranted")
    spent = given(granted).when(c.SpendFunding("f1", 3000, "intervenant", date(2026, 2, 10), at(2026, 2, 10),
                                               "facture-17")).then_types("FundingSpent")
    assert spent[0].expense_id == "facture-17" and spent[0].total_spent_eur == 3000
    given(granted, spent).when(c.SpendFunding("f1", 1500, "materiel", date(2026, 3, 1), at(2026, 3, 1),
                                              "facture-18")).raises("spending_stays_within_the_grant")


def test_a_held_work_meeting_does_not_stand_for_the_bilan_meeting():
    work = c.ScheduleMeeting("mtg-work", MeetingKind.work, at(2025, 9, 30, 17), "Ecole", at(2025, 9, 10))
    history = given_events_of(open_year(), work, c.HoldMeeting("mtg-work", "programme construit", at(2025, 9, 30, 19)))
    given(history).when(c.RecordBilan(GOOD, GOOD, at(2026, 6, 3))).raises("bilan_requires_the_bilan_meeting_held")


def test_the_bilan_of_year_one_does_not_stop_the_bilan_of_year_two():
    year_one = given_events_of(open_year(), bilan_meeting(), held(), c.RecordBilan(GOOD, GOOD, at(2026, 6, 3)))
    year_two = year_one + given(year_one).when(open_year(year_index=2, start_year=2026, now=at(2026, 7, 8))).then_types(
        "ProgrammeYearClosed", "ProgrammeYearOpened")
    given(year_two).when(c.RecordBilan(GOOD, GOOD, at(2027, 6, 3))).raises("bilan_requires_the_bilan_meeting_held")
    meeting = c.ScheduleMeeting("mtg-bilan-2", MeetingKind.bilan, at(2027, 6, 1, 17), "Ecole", at(2027, 5, 3))
    ready = year_two + events_after(year_two, meeting, held("mtg-bilan-2", at(2027, 6, 1, 19)))
    events = given(ready).when(c.RecordBilan(GOOD, GOOD, at(2027, 6, 3))).then_types("BilanRecorded")
    assert events[0].year_index == 2 and events[0].bilan_meeting_id == "mtg-bilan-2"



def granted_cnr(amount: int = 4000) -> list:
    return given_events_of(
        open_year("concertation"),
        c.CompleteStep(StepTrack.concertation, "concertation", "3 soirees", at(2025, 11, 20)),
        c.CompleteStep(StepTrack.concertation, "projet_pedagogique", "theatre", at(2025, 11, 28)),
        c.RequestFunding("f1", amount, at(2025, 12, 1)),
        c.GrantFunding("f1", amount, "Rectorat", at(2026, 1, 20)),
    )


def test_a_retried_spend_with_the_same_expense_id_is_counted_once():
    granted = granted_cnr()
    spend = c.SpendFunding("f1", 3000, "intervenant", date(2026, 2, 10), at(2026, 2, 10), "facture-17")
    spent = events_after(granted, spend)
    given(granted, spent).when(spend).then([])
    retried_later = c.SpendFunding("f1", 3000, "intervenant", date(2026, 2, 10), at(2026, 2, 11), "facture-17")
    given(granted, spent).when(retried_later).then([])
    other = c.SpendFunding("f1", 1000, "materiel", date(2026, 3, 1), at(2026, 3, 1), "facture-18")
    more = given(granted, spent).when(other).then_types("FundingSpent")
    assert more[0].total_spent_eur == 4000


def test_an_expense_id_reused_for_another_amount_is_a_conflict():
    granted = granted_cnr()
    spent = events_after(granted, c.SpendFunding("f1", 3000, "intervenant", date(2026, 2, 10), at(2026, 2, 10), "f-17"))
    given(granted, spent).when(c.SpendFunding("f1", 300, "intervenant", date(2026, 2, 10), at(2026, 2, 12), "f-17")
                               ).raises("an_expense_id_names_one_expense")


def test_nothing_is_spent_before_the_grant():
    requested = granted_cnr()[:-1]
    given(requested).when(c.SpendFunding("f1", 10, "x", date(2026, 1, 5), at(2026, 1, 5), "e1")).raises(
        "spending_follows_the_grant")


def test_a_cnr_school_may_write_its_projet_pedagogique_without_an_initial_concertation():
    history = given_events_of(open_year("concertation"))
    events = given(history).when(c.CompleteStep(StepTrack.concertation, "projet_pedagogique", "theatre",
                                                at(2025, 11, 20))).then_types("StepCompleted")
    assert events[0].step_number == 2


def test_a_cnr_projet_without_concertation_can_be_funded_and_the_financement_step_completed():
    projet = given_events_of(open_year("concertation"),
                             c.CompleteStep(StepTrack.concertation, "projet_pedagogique", "theatre", at(2025, 11, 20)))
    requested = projet + given(projet).when(c.RequestFunding("f1", 4500, at(2025, 12, 1))).then_types("FundingRequested")
    given(requested).when(c.CompleteStep(StepTrack.concertation, "financement", "demande deposee", at(2025, 12, 2))
                          ).then_types("StepCompleted")


def test_a_cnr_concertation_may_be_held_after_the_projet_pedagogique():
    history = given_events_of(open_year("concertation"),
                              c.CompleteStep(StepTrack.concertation, "projet_pedagogique", "theatre", at(2025, 11, 20)))
    events = given(history).when(c.CompleteStep(StepTrack.concertation, "concertation", "soiree parents",
                                                at(2026, 1, 15))).then_types("StepCompleted")
    assert events[0].step_number == 1


def test_cnr_funding_still_needs_a_projet_pedagogique_and_the_financement_step_a_request():
    history = given_events_of(open_year("concertation"))
    given(history).when(c.RequestFunding("f1", 4500, at(2025, 12, 1))).raises("funding_requires_the_pedagogical_project")
    given(history).when(c.CompleteStep(StepTrack.concertation, "financement", "x", at(2025, 12, 1))).raises(
        "the_financement_step_needs_a_funding_request")
    given(granted_cnr()).when(c.CompleteStep(StepTrack.concertation, "financement", "obtenu", at(2026, 1, 21))
                              ).then_types("StepCompleted")


def work_meeting(day: date, meeting_id: str = "mtg-work") -> c.ScheduleMeeting:
    return c.ScheduleMeeting(meeting_id, MeetingKind.work, at(day.year, day.month, day.day, 17), "Ecole",
                             at(2025, 9, 2))


def test_a_work_meeting_in_september_october_is_in_its_window():
    events = given(opened()).when(work_meeting(date(2025, 9, 30))).then_types("MeetingScheduled")
    assert events[0].timing == MeetingTiming.in_window


def test_a_work_meeting_after_october_is_recorded_late_not_refused():
    late = given(opened()).when(work_meeting(date(2025, 11, 6))).then_types("MeetingScheduled")
    assert late[0].timing == MeetingTiming.late
    held_late = given(opened(), late).when(c.HoldMeeting("mtg-work", "programme", at(2025, 11, 6, 19))).then_types(
        "MeetingHeld")
    assert held_late[0].timing == MeetingTiming.late


def test_a_bilan_meeting_before_may_is_early_and_after_june_late():
    early = c.ScheduleMeeting("b-early", MeetingKind.bilan, at(2026, 4, 2, 17), "Ecole", at(2026, 3, 1))
    assert given(opened()).when(early).then_types("MeetingScheduled")[0].timing == MeetingTiming.early
    late = c.ScheduleMeeting("b-late", MeetingKind.bilan, at(2026, 7, 2, 17), "Ecole", at(2026, 6, 1))
    assert given(opened()).when(late).then_types("MeetingScheduled")[0].timing == MeetingTiming.late


def test_a_bilan_meeting_held_late_still_allows_the_bilan():
    late = c.ScheduleMeeting("b-late", MeetingKind.bilan, at(2026, 7, 2, 17), "Ecole", at(2026, 6, 1))
    history = given_events_of(open_year(), late, c.HoldMeeting("b-late", "bilan", at(2026, 7, 2, 19)))
    events = given(history).when(c.RecordBilan(GOOD, GOOD, at(2026, 7, 3))).then_types("BilanRecorded")
    assert events[0].bilan_meeting_id == "b-late"


def test_rescheduling_a_work_meeting_into_november_makes_it_late():
    history = given_events_of(open_year(), work_meeting(date(2025, 10, 14)))
    moved = given(history).when(c.RescheduleMeeting("mtg-work", at(2025, 11, 4, 17), at(2025, 10, 10))).then_types(
        "MeetingRescheduled")
    assert moved[0].timing == MeetingTiming.late


def test_follow_ups_and_rencontres_have_no_window():
    follow_up = c.ScheduleMeeting("f1", MeetingKind.follow_up, at(2026, 2, 3, 17), "Ecole", at(2026, 1, 5))
    assert given(opened()).when(follow_up).then_types("MeetingScheduled")[0].timing is None


def test_a_spend_stored_before_expense_ids_still_counts_once_towards_the_grant():
    granted = granted_cnr()
    v1 = {**granted[-1].model_dump(mode="json"), "type": "FundingSpent", "amount_eur": 3000, "label": "intervenant",
          "spent_on": "2026-02-10", "total_spent_eur": 3000}
    for key in ("granted_by", "granted_at"):
        v1.pop(key)
    old_spend = parse_payload("FundingSpent", 1, v1)
    assert old_spend.expense_id == "f1-total-3000"
    given(granted, [old_spend]).when(c.SpendFunding("f1", 1001, "materiel", date(2026, 3, 1), at(2026, 3, 1), "e2")
                                     ).raises("spending_stays_within_the_grant")


MERCREDI_STEPS_BEFORE_BILAN = ["objectifs", "recherche_partenaires", "formalisation", "animation"]


def mercredi_history(*then):
    steps = [c.CompleteStep(StepTrack.mercredi, s, f"etape {s}", at(2025, 9, 10 + i))
             for i, s in enumerate(MERCREDI_STEPS_BEFORE_BILAN)]
    return given_events_of(open_year("mercredi"), *steps, *then)


def test_a_mercredi_bilan_step_refusing_reconduction_makes_the_bilan_end_the_partnership():
    # Seed 001: the bilan step decides « de la reconduction ou non du partenariat »; both sides
    # wishing to continue do not override it, so the school's renewal request is then refused
    # (candidatures: renewal_requires_the_wish_to_continue).
    no = c.CompleteStep(StepTrack.mercredi, "bilan", "on arrete", at(2026, 6, 1), reconduction=False)
    history = mercredi_history(no, bilan_meeting(), held())
    events = given(history).when(c.RecordBilan(GOOD, GOOD, at(2026, 6, 3))).then_types("BilanRecorded")
    assert events[0].wish_to_continue is False


def test_a_mercredi_bilan_step_allowing_reconduction_leaves_the_sides_wish():
    yes = c.CompleteStep(StepTrack.mercredi, "bilan", "on continue", at(2026, 6, 1), reconduction=True)
    history = mercredi_history(yes, bilan_meeting(), held())
    events = given(history).when(c.RecordBilan(GOOD, GOOD, at(2026, 6, 3))).then_types("BilanRecorded")
    assert events[0].wish_to_continue is True


def test_a_mercredi_bilan_step_cannot_refuse_reconduction_after_a_bilan_that_continues():
    history = mercredi_history(bilan_meeting(), held(), c.RecordBilan(GOOD, GOOD, at(2026, 6, 3)))
    no = c.CompleteStep(StepTrack.mercredi, "bilan", "on arrete", at(2026, 6, 4), reconduction=False)
    given(history).when(no).raises("the_mercredi_bilan_step_agrees_with_the_recorded_bilan")
    yes = c.CompleteStep(StepTrack.mercredi, "bilan", "on continue", at(2026, 6, 4), reconduction=True)
    given(history).when(yes).then_types("StepCompleted")
