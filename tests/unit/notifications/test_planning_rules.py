"""The reminder rules, played as data: given a trigger, when planned at a date, then what is
planned, skipped or cancelled."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from hypothesis import given, strategies as st

from jumelage_contracts.notifications import Recipient
from jumelage_contracts.reference import Dispositif, is_last_allowed_year
from notifications.domain.planning import Trigger, due_at, plan
from notifications.domain.rules import DEFAULT_RULES, RULES_BY_NAME, RuleOverride, rules_for

UTC = timezone.utc
SCHOOL_REF = Recipient(role="school_referent", name="Claire Martin", email="claire.martin@ac-paris.fr")
PARTNER_REF = Recipient(role="partner_referent", name="Yannick Lebrun", email="y.lebrun@carnavalet.example.fr")
DAAC = Recipient(role="academie", name="DAAC de Paris", email="daac@ac-paris.fr")
SCHOOLS = Recipient(role="school", name="Ecoles eligibles", email="diffusion-ecoles@ac-paris.fr")
DIRECTORY = {"school_referent": (SCHOOL_REF,), "partner_referent": (PARTNER_REF,), "academie": (DAAC,),
             "school": (SCHOOLS,)}


def action(kind: str = "action_scheduled", starts: datetime = datetime(2025, 11, 18, 9, 0, tzinfo=UTC)) -> Trigger:
    return Trigger(kinds=frozenset({kind}), academie="paris", dispositif="culture", school_year="2025-2026",
                   partnership_id="p-1", action_id="a-1", uai="0750655E", dates={"starts_at": starts},
                   facts={"label": "visite au musee", "place": "Musee Carnavalet"})


def attributed(dispositif: str = "culture") -> Trigger:
    return Trigger(kinds=frozenset({"partnership_attributed"}), academie="paris", dispositif=dispositif,
                   school_year="2025-2026", partnership_id="p-1", uai="0750655E",
                   dates={"work_meeting_window_start": date(2025, 9, 15), "work_meeting_window_end": date(2025, 10, 31),
                          "bilan_window_start": date(2026, 5, 11), "bilan_window_end": date(2026, 6, 19),
                          "school_year_end": date(2026, 7, 7)},
                   facts={"school_name": "Ecole Belleville", "partner_name": "Musee Carnavalet"})


JULY = datetime(2025, 7, 4, 10, 0, tzinfo=UTC)


def test_an_action_scheduled_plans_reminders_seven_days_and_one_day_before_at_eight_local_time() -> None:
    result = plan(action(), rules_for("paris", "culture"), datetime(2025, 10, 1, tzinfo=UTC), DIRECTORY)
    assert {(p.rule, p.due_at) for p in result.schedule} == {
        ("action_j_minus_7", datetime(2025, 11, 11, 7, 0, tzinfo=UTC)),  # 08:00 Paris in winter
        ("action_j_minus_1", datetime(2025, 11, 17, 7, 0, tzinfo=UTC)),
    }
    assert all(p.recipients == (SCHOOL_REF, PARTNER_REF) for p in result.schedule)


def test_a_reminder_already_due_is_not_planned() -> None:
    result = plan(action(), rules_for("paris", "culture"), datetime(2025, 11, 12, tzinfo=UTC), DIRECTORY)
    assert [p.rule for p in result.schedule] == ["action_j_minus_1"]
    assert result.skipped[0][0] == "action_j_minus_7"


def test_a_late_attribution_is_told_to_hold_its_work_meeting_the_next_morning_while_the_window_is_open() -> None:
    late = datetime(2025, 9, 22, 10, 0, tzinfo=UTC)  # after the window opened (15 Sept), noon in Paris
    due = {p.rule: p.due_at for p in plan(attributed(), rules_for("paris", "culture"), late, DIRECTORY).schedule}
    assert due["work_meeting_to_hold"] == datetime(2025, 9, 23, 6, 0, tzinfo=UTC)  # 08:00 Paris
    assert due["work_meeting_escalation"] == datetime(2025, 11, 1, 7, 0, tzinfo=UTC)
    early_morning = datetime(2025, 9, 22, 5, 0, tzinfo=UTC)  # 07:00 Paris: today's 08:00 is still ahead
    due = {p.rule: p.due_at for p in plan(attributed(), rules_for("paris", "culture"), early_morning, DIRECTORY).schedule}
    assert due["work_meeting_to_hold"] == datetime(2025, 9, 22, 6, 0, tzinfo=UTC)


def test_after_the_work_meeting_window_its_reminder_is_no_longer_caught_up() -> None:
    last_evening = datetime(2025, 10, 31, 10, 0, tzinfo=UTC)  # the next 08:00 is 1 November, past the window
    result = plan(attributed(), rules_for("paris", "culture"), last_evening, DIRECTORY)
    assert "work_meeting_to_hold" not in {p.rule for p in result.schedule}
    assert "work_meeting_to_hold" in {name for name, _ in result.skipped}


def test_reminders_without_a_window_are_not_caught_up() -> None:
    result = plan(action(), rules_for("paris", "culture"), datetime(2025, 11, 12, tzinfo=UTC), DIRECTORY)
    assert [p.rule for p in result.schedule] == ["action_j_minus_1"]


def test_a_rescheduled_action_cancels_its_old_reminders_and_plans_new_ones() -> None:
    moved = action("action_rescheduled", datetime(2025, 12, 2, 9, 0, tzinfo=UTC))
    result = plan(moved, rules_for("paris", "culture"), datetime(2025, 10, 1, tzinfo=UTC), DIRECTORY)
    assert {p.rule for p in result.schedule} == {"action_j_minus_7", "action_j_minus_1"}
    (cancel,) = result.cancel
    assert (cancel.scope, cancel.scope_id, cancel.reason) == ("action", "p-1/a-1", "rescheduled")
    assert cancel.keep == {p.dedup_key for p in result.schedule}


def test_a_cancelled_action_only_cancels() -> None:
    result = plan(action("action_cancelled"), rules_for("paris", "culture"), datetime(2025, 10, 1, tzinfo=UTC), DIRECTORY)
    assert result.schedule == ()
    assert [(c.rules, c.reason) for c in result.cancel] == [
        (frozenset({"action_j_minus_7", "action_j_minus_1"}), "cancelled")]


def test_an_attribution_plans_the_work_meeting_the_bilan_and_their_escalations() -> None:
    result = plan(attributed(), rules_for("paris", "culture"), JULY, DIRECTORY)
    due = {p.rule: p.due_at for p in result.schedule}
    assert due == {
        "work_meeting_to_hold": datetime(2025, 9, 15, 6, 0, tzinfo=UTC),
        "work_meeting_escalation": datetime(2025, 11, 1, 7, 0, tzinfo=UTC),
        "bilan_window_open": datetime(2026, 5, 11, 6, 0, tzinfo=UTC),
        "bilan_escalation": datetime(2026, 6, 20, 6, 0, tzinfo=UTC),
    }
    escalation = next(p for p in result.schedule if p.rule == "work_meeting_escalation")
    assert escalation.recipients == (DAAC,)


def test_only_a_jes_partnership_gets_the_end_of_year_questionnaire() -> None:
    culture = {p.rule for p in plan(attributed("culture"), rules_for("paris", "culture"), JULY, DIRECTORY).schedule}
    jes = {p.rule for p in plan(attributed("entreprise"), rules_for("paris", "entreprise"), JULY, DIRECTORY).schedule}
    assert "jes_questionnaire" not in culture
    assert jes - culture == {"jes_questionnaire"}


def test_a_work_meeting_scheduled_cancels_the_escalation_as_satisfied() -> None:
    meeting = Trigger(kinds=frozenset({"meeting_scheduled", "work_meeting_scheduled"}), academie="paris",
                      dispositif="culture", school_year="2025-2026", partnership_id="p-1", meeting_id="m-1",
                      dates={"starts_at": datetime(2025, 10, 2, 14, 0, tzinfo=UTC)}, facts={"label": "reunion"})
    result = plan(meeting, rules_for("paris", "culture"), datetime(2025, 9, 1, tzinfo=UTC), DIRECTORY)
    partnership = next(c for c in result.cancel if c.scope == "partnership")
    assert partnership.rules == {"work_meeting_to_hold", "work_meeting_escalation"}
    assert partnership.reason == "satisfied"


def test_without_a_work_meeting_left_the_same_escalation_is_planned_again_and_only_what_is_still_ahead() -> None:
    missing = Trigger(**{**attributed().__dict__, "kinds": frozenset({"work_meeting_missing"})})
    september = datetime(2025, 9, 20, tzinfo=UTC)
    result = plan(missing, rules_for("paris", "culture"), september, DIRECTORY)
    original = {p.rule: p.reminder_id for p in plan(attributed(), rules_for("paris", "culture"), JULY, DIRECTORY).schedule}
    assert {p.rule: p.reminder_id for p in result.schedule} == {
        "work_meeting_escalation": original["work_meeting_escalation"]}  # the hold reminder's date has passed
    assert result.cancel == ()


def test_the_renewal_reminder_is_planned_only_when_the_school_wishes_to_continue() -> None:
    def bilan(wish: bool) -> Trigger:
        return Trigger(kinds=frozenset({"bilan_recorded"}), academie="paris", dispositif="culture",
                       school_year="2025-2026", partnership_id="p-1",
                       dates={"renewal_deadline": datetime(2026, 6, 26, 21, 59, tzinfo=UTC)},
                       flags={"wishes_to_continue": wish})
    now = datetime(2026, 5, 20, tzinfo=UTC)
    assert [p.rule for p in plan(bilan(True), DEFAULT_RULES, now, DIRECTORY).schedule] == ["renewal_window"]
    assert plan(bilan(False), DEFAULT_RULES, now, DIRECTORY).schedule == ()


def test_no_renewal_reminder_for_a_partnership_in_its_last_allowed_year() -> None:
    # Seed 000: a culture partnership runs three years; asking for a fourth would be refused.
    last = Trigger(kinds=frozenset({"bilan_recorded"}), academie="paris", dispositif="culture",
                   school_year="2027-2028", partnership_id="p-1",
                   dates={"renewal_deadline": datetime(2028, 6, 26, 21, 59, tzinfo=UTC)},
                   flags={"wishes_to_continue": True, "last_allowed_year": True})
    result = plan(last, DEFAULT_RULES, datetime(2028, 5, 20, tzinfo=UTC), DIRECTORY)
    assert [p.rule for p in result.schedule] == []


def test_the_last_allowed_year_of_a_partnership_is_named_by_its_dispositif() -> None:
    assert [is_last_allowed_year(Dispositif.culture, i) for i in (1, 2, 3)] == [False, False, True]
    assert is_last_allowed_year(Dispositif.entreprise, 7) is False


def test_an_academie_override_moves_a_date_for_its_own_dispositif_only() -> None:
    override = RuleOverride(academie="lille", dispositif="culture", rule="work_meeting_escalation",
                            fixed_date=date(2025, 11, 15), at=time(9, 30))
    lille = {r.name: r for r in rules_for("lille", "culture", [override])}
    paris = {r.name: r for r in rules_for("paris", "culture", [override])}
    assert due_at(lille["work_meeting_escalation"], date(2025, 10, 31), "lille") == datetime(2025, 11, 15, 8, 30, tzinfo=UTC)
    assert paris["work_meeting_escalation"] == RULES_BY_NAME["work_meeting_escalation"]


def test_an_academie_can_switch_a_rule_off() -> None:
    off = RuleOverride(academie="paris", dispositif="*", rule="action_j_minus_7", enabled=False)
    result = plan(action(), rules_for("paris", "culture", [off]), datetime(2025, 10, 1, tzinfo=UTC), DIRECTORY)
    assert [p.rule for p in result.schedule] == ["action_j_minus_1"]


def test_overseas_reminders_are_sent_at_eight_in_the_local_time_zone() -> None:
    rule = RULES_BY_NAME["action_j_minus_1"]
    assert due_at(rule, datetime(2025, 11, 18, 13, 0, tzinfo=UTC), "la-reunion") == datetime(2025, 11, 17, 4, 0, tzinfo=UTC)


def test_a_trigger_without_any_known_recipient_plans_nothing() -> None:
    result = plan(action(), rules_for("paris", "culture"), datetime(2025, 10, 1, tzinfo=UTC), {})
    assert result.schedule == () and {why for _, why in result.skipped} == {"no recipient known"}


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_replanning_the_same_trigger_gives_the_same_ids(starts: datetime) -> None:
    now = datetime(2024, 12, 1, tzinfo=UTC)
    first = plan(action(starts=starts), DEFAULT_RULES, now, DIRECTORY)
    again = plan(action(starts=starts), DEFAULT_RULES, now, DIRECTORY)
    assert [p.reminder_id for p in first.schedule] == [p.reminder_id for p in again.schedule]
    assert all(p.due_at < starts for p in first.schedule)


def campaign_opened(dispositif: str) -> Trigger:
    return Trigger(kinds=frozenset({"campaign_opened"}), academie="paris", dispositif=dispositif,
                   school_year="2025-2026", campaign_id="camp-1",
                   dates={"submission_deadline": datetime(2025, 5, 31, 21, 59, tzinfo=UTC)},
                   facts={"title": "Appel 2025-2026"})


def test_a_cnr_campaign_has_no_deadline_to_remind_schools_of() -> None:
    """Seed 003: teams join the démarche at any time of the school year."""
    march = datetime(2025, 3, 1, tzinfo=UTC)
    culture = {p.rule for p in plan(campaign_opened("culture"), rules_for("paris", "culture"), march, DIRECTORY).schedule}
    assert culture == {"campaign_deadline_j_minus_7", "campaign_deadline_j_minus_1"}
    cnr = plan(campaign_opened("concertation"), rules_for("paris", "concertation"), march, DIRECTORY).schedule
    assert cnr == ()


def test_a_cnr_project_has_no_partner_so_no_work_meeting_to_hold_but_still_its_bilan() -> None:
    result = plan(attributed("concertation"), rules_for("paris", "concertation"), JULY, DIRECTORY)
    assert {p.rule for p in result.schedule} == {"bilan_window_open", "bilan_escalation"}


def test_the_renewal_reminder_names_a_partner_only_when_there_is_one() -> None:
    rule = RULES_BY_NAME["renewal_window"]
    assert rule.title.format(with_partner=" avec Musee Carnavalet") == \
        "Poursuivre le jumelage avec Musee Carnavalet : demandez le renouvellement"
    assert rule.title.format(with_partner="") == "Poursuivre le jumelage : demandez le renouvellement"
