"""Decisions told to the people concerned, planned as data: given a decision's trigger and the
recipients known, then the mail planned (at once, to whom), or held until someone can receive it."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from jumelage_contracts.notifications import Recipient
from notifications.domain.planning import Trigger, plan
from notifications.domain.rules import RULES_BY_NAME, RuleOverride, rules_for

UTC = timezone.utc
DECIDED = datetime(2025, 7, 4, 10, 0, tzinfo=UTC)
SCHOOL_MAILBOX = Recipient(role="school", name="École Belleville", email="ce.0750655e@ac-paris.fr")
SCHOOL_REF = Recipient(role="school_referent", name="Claire Martin", email="claire.martin@ac-paris.fr")
PARTNER_REF = Recipient(role="partner_referent", name="Yannick Lebrun", email="y.lebrun@carnavalet.example.fr")
BEFORE_REFERENTS = {"school": (SCHOOL_MAILBOX,), "school_referent": (SCHOOL_MAILBOX,), "partner_referent": ()}
WITH_REFERENTS = {"school": (SCHOOL_MAILBOX,), "school_referent": (SCHOOL_REF,), "partner_referent": (PARTNER_REF,)}
DECISIONS = {"decision_attributed", "decision_offer_chosen", "decision_rejected", "decision_returned_for_correction",
             "decision_renewal_granted", "decision_renewal_declined"}
CALENDAR = {"work_meeting_window_start": date(2025, 9, 15), "work_meeting_window_end": date(2025, 10, 17),
            "bilan_window_start": date(2026, 5, 11), "bilan_window_end": date(2026, 6, 19),
            "school_year_end": date(2026, 7, 7)}


def decided(kind: str, *, partner: bool = True, first_year: bool = True, at: datetime = DECIDED) -> Trigger:
    return Trigger(kinds=frozenset({kind}), academie="paris", dispositif="culture", school_year="2025-2026",
                   partnership_id="p-1", uai="0750655E", dates={**CALENDAR, "decided_at": at},
                   facts={"school_name": "École Belleville", "partner_name": "Musée Carnavalet",
                          "with_partner": " avec Musée Carnavalet" if partner else "",
                          "school_year": "2025-2026", "detail": "CM1 A (24 élèves)"},
                   flags={"has_partner": partner, "first_year": first_year})


def candidature(kind: str, at: datetime = DECIDED) -> Trigger:
    return Trigger(kinds=frozenset({kind}), academie="paris", dispositif="culture", school_year="2025-2026",
                   campaign_id="camp-1", candidature_id="cand-1", uai="0750655E",
                   dates={"decided_at": at, "school_year_end": date(2026, 7, 7)},
                   facts={"school_name": "École Belleville", "campaign_title": "Jumelages culture 2025-2026",
                          "detail": "Effectifs incomplets"})


def decisions(trigger: Trigger, now: datetime = DECIDED, directory=BEFORE_REFERENTS, known_at=None, rules=None):
    result = plan(trigger, rules or rules_for("paris", "culture"), now, directory, known_at=known_at or now)
    return {p.rule: p for p in result.schedule if p.rule in DECISIONS}, dict(result.skipped)


def test_an_attribution_tells_the_school_at_once_on_its_mailbox_before_any_referent_is_named() -> None:
    planned, skipped = decisions(decided("partnership_attributed"))
    school = planned["decision_attributed"]
    assert school.due_at == DECIDED
    assert school.recipients == (SCHOOL_MAILBOX,)
    assert school.kind == "decision" and school.missed is None
    assert school.title == "Jumelage attribué : École Belleville avec Musée Carnavalet (2025-2026)"
    assert school.detail == "CM1 A (24 élèves)"
    # The partner has no referent yet: its mail is held (not planned, not missed) until one is named.
    assert "decision_offer_chosen" not in planned
    assert skipped["decision_offer_chosen"] == "no recipient known"


def test_the_partner_is_told_its_offer_was_chosen_when_its_referent_is_named_with_the_same_dedup_key() -> None:
    at_attribution, _ = decisions(decided("partnership_attributed"), directory=WITH_REFERENTS)
    september = datetime(2025, 9, 2, 8, 30, tzinfo=UTC)
    at_referent, _ = decisions(decided("partner_referent_designated"), now=september, directory=WITH_REFERENTS)
    chosen = at_referent["decision_offer_chosen"]
    assert chosen.recipients == (PARTNER_REF,)
    assert chosen.due_at == september  # told as soon as someone can receive it
    assert chosen.title == "Votre offre est retenue : jumelage avec École Belleville (2025-2026)"
    # Planned from the attribution or from a referent: one reminder id, so never told twice.
    assert chosen.reminder_id == at_attribution["decision_offer_chosen"].reminder_id
    assert set(at_referent) == {"decision_offer_chosen"}  # the school is not told again


def test_a_partner_named_after_the_work_meeting_window_is_recorded_as_missed_not_told_late() -> None:
    november = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)
    planned, _ = decisions(decided("partner_referent_designated"), now=november, directory=WITH_REFERENTS)
    assert planned["decision_offer_chosen"].missed == "arrived_after_its_grace"


def test_a_project_without_partner_is_told_its_attribution_without_naming_one() -> None:
    planned, _ = decisions(decided("partnership_attributed", partner=False))
    assert planned["decision_attributed"].title == "Jumelage attribué : École Belleville (2025-2026)"


def test_no_offer_chosen_mail_for_a_project_without_partner_nor_for_a_renewed_year() -> None:
    assert "decision_offer_chosen" not in decisions(decided("partnership_attributed", partner=False),
                                                    directory=WITH_REFERENTS)[0]
    assert "decision_offer_chosen" not in decisions(decided("partner_referent_designated", first_year=False),
                                                    directory=WITH_REFERENTS)[0]


def test_a_rejection_and_a_return_for_correction_tell_the_school_mailbox_with_the_reason() -> None:
    rejected, _ = decisions(candidature("candidature_rejected"))
    returned, _ = decisions(candidature("candidature_returned_for_correction"))
    assert set(rejected) == {"decision_rejected"} and set(returned) == {"decision_returned_for_correction"}
    assert rejected["decision_rejected"].recipients == (SCHOOL_MAILBOX,)
    assert rejected["decision_rejected"].title == "Candidature non retenue : Jumelages culture 2025-2026"
    assert returned["decision_returned_for_correction"].title == \
        "Candidature à corriger : Jumelages culture 2025-2026"
    assert rejected["decision_rejected"].detail == "Effectifs incomplets"
    assert rejected["decision_rejected"].scope == "candidature"


def test_a_candidature_returned_twice_is_told_twice_and_a_redelivery_once() -> None:
    first, _ = decisions(candidature("candidature_returned_for_correction"))
    again, _ = decisions(candidature("candidature_returned_for_correction"))
    later, _ = decisions(candidature("candidature_returned_for_correction", at=DECIDED + timedelta(days=3)),
                         now=DECIDED + timedelta(days=3))
    rule = "decision_returned_for_correction"
    assert first[rule].reminder_id == again[rule].reminder_id != later[rule].reminder_id


def test_renewal_decisions_tell_both_referents_carried_over() -> None:
    granted, _ = decisions(decided("renewal_granted", first_year=False), directory=WITH_REFERENTS)
    declined, _ = decisions(decided("renewal_declined", first_year=False), directory=WITH_REFERENTS)
    assert set(granted) == {"decision_renewal_granted"} and set(declined) == {"decision_renewal_declined"}
    assert granted["decision_renewal_granted"].recipients == (SCHOOL_REF, PARTNER_REF)
    assert declined["decision_renewal_declined"].title.startswith("Renouvellement refusé")


def test_a_decision_that_reaches_us_late_goes_out_at_once_within_its_grace_and_is_missed_after() -> None:
    arrived = DECIDED + timedelta(days=3)
    planned, _ = decisions(candidature("candidature_rejected"), now=arrived, known_at=DECIDED)
    assert planned["decision_rejected"].due_at == DECIDED and planned["decision_rejected"].missed is None
    much_later = DECIDED + timedelta(days=31)
    planned, _ = decisions(candidature("candidature_rejected"), now=much_later, known_at=DECIDED)
    assert planned["decision_rejected"].missed == "arrived_after_its_grace"


def test_an_academie_switches_a_decision_off_or_sends_it_the_next_morning() -> None:
    off = rules_for("paris", "culture", [RuleOverride("paris", "*", "decision_rejected", enabled=False)])
    assert "decision_rejected" not in decisions(candidature("candidature_rejected"), rules=off)[0]
    from datetime import time
    morning = rules_for("paris", "culture", [RuleOverride("paris", "culture", "decision_rejected", offset_days=1,
                                                          at=time(8, 0))])
    planned, _ = decisions(candidature("candidature_rejected"), rules=morning)
    assert planned["decision_rejected"].due_at == datetime(2025, 7, 5, 6, 0, tzinfo=UTC)  # 08:00 Paris


def test_every_decision_rule_is_in_the_catalogue_as_a_decision() -> None:
    assert DECISIONS <= set(RULES_BY_NAME)
    assert {RULES_BY_NAME[name].kind for name in DECISIONS} == {"decision"}
    assert all(RULES_BY_NAME[name].at is None for name in DECISIONS)
