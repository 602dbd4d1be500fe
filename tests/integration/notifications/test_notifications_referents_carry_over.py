"""A renewed partnership's referents keep receiving its reminders until their side names
someone for the new year (``referents_carry_over_until_the_side_names_new_ones``)."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.integration.notifications.notif_events import example, referents

UTC = timezone.utc
CLAIRE, YANNICK = "claire.martin@ac-paris.fr", "y.lebrun@carnavalet.example.fr"
SOPHIE = "sophie.durand@ac-paris.fr"
SCHOOL_MAILBOX = "ce.0750655e@ac-paris.fr"
YEAR_2 = {"school_year": "2026-2027", "year_index": 2}


async def renewed_for_year_2(h) -> None:
    h.clock.set(datetime(2025, 7, 4, 10, 0, tzinfo=UTC))
    await h.play(example("CampaignOpened"))
    await h.play(example("PartnershipAttributed"))
    for event in referents():  # year 1: Claire (school), Yannick (partner)
        await h.play(event)
    h.clock.set(datetime(2026, 7, 3, 10, 0, tzinfo=UTC))
    granted = example("RenewalGranted")
    await h.play(granted)
    await h.play(example("ProgrammeYearOpened", **YEAR_2, opened_by="renewal", tier="jumelage",
                         classes=[c.model_dump(mode="json") for c in granted.classes],
                         calendar=granted.calendar.model_dump(mode="json"),
                         year_starts_on="2026-09-01", year_ends_on="2027-07-03"))


def recipients_of(h, subject_part: str) -> list[set[str]]:
    return [set(rcpts) for m, (_, rcpts) in zip(h.mailbox.messages, h.mailbox.envelopes)
            if subject_part in h.mailbox.subject(m)]


async def test_year_1_referents_are_reminded_in_year_2_until_a_new_one_replaces_them(harness) -> None:
    await renewed_for_year_2(harness)
    harness.clock.set(datetime(2026, 10, 1, tzinfo=UTC))
    await harness.play(example("ActionScheduled", **YEAR_2, action_id="act-atelier-cm2a", class_ids=["cm2-a"],
                               title="Atelier carnet de visite", starts_at="2026-11-17T09:00:00Z"))

    await harness.move_to(datetime(2026, 11, 10, 7, 0, tzinfo=UTC))  # J-7, 08:00 in Paris
    assert recipients_of(harness, "Atelier carnet de visite dans 7 jours") == [{CLAIRE, YANNICK}]
    assert harness.mailbox.to(SCHOOL_MAILBOX) == []

    # The school names its referent for year 2: she replaces Claire; the partner keeps Yannick.
    await harness.play(example("ReferentDesignated", **YEAR_2, referent_id="ref-sophie-durand",
                               name="Sophie Durand", email=SOPHIE, phone=None))
    await harness.move_to(datetime(2026, 11, 16, 7, 0, tzinfo=UTC))  # J-1
    assert recipients_of(harness, "Atelier carnet de visite demain") == [{SOPHIE, YANNICK}]
    (j1,) = await harness.timers(rule="action_j_minus_1")
    assert {r["email"] for r in j1.recipients} == {SOPHIE, YANNICK}


async def test_a_side_with_no_referent_ever_named_still_falls_back_on_the_school_mailbox(harness) -> None:
    harness.clock.set(datetime(2025, 7, 4, 10, 0, tzinfo=UTC))
    await harness.play(example("CampaignOpened"))
    await harness.play(example("PartnershipAttributed"))
    await harness.play(referents()[1])  # the partner names Yannick; the school names nobody
    await harness.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))
    assert recipients_of(harness, "fixez votre") == [{SCHOOL_MAILBOX, YANNICK}]
