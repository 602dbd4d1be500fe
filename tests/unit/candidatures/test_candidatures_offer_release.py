"""Given/when/then: a partnership that stops in its first year gives its offer places back."""

from __future__ import annotations

from datetime import datetime

from candidatures.domain import attribution as A
from candidatures.domain import candidature as K
from candidatures.domain import offer as O
from candidatures.domain import release
from candidatures.domain.candidature import SubmitCandidature
from candidatures.domain.rules import CandidatureContent
from candidatures_builders import (
    UTC,
    cls,
    culture_content,
    given,
    offer_published,
    open_campaign,
)
from jumelage_contracts.candidatures import (
    OfferCapacityReserved,
    OfferPlacesReleased,
    PartnershipAttributed,
)
from jumelage_contracts.programmes import ClassCancelled, PartnershipEnded

ENDED_AT = datetime(2025, 10, 1, 9, tzinfo=UTC)


def reserved(pid: str = "p1", classes: int = 2, remaining: int = 2) -> OfferCapacityReserved:
    return OfferCapacityReserved(offer_id="offer-1", campaign_id="camp-1", candidature_id=f"cand-{pid}",
                                 partnership_id=pid, classes=classes, remaining_classes=remaining)


def release_cmd(class_ids=("k0", "k1"), pid: str = "p1", reason="partnership_ended") -> release.ReleasePlaces:
    return release.ReleasePlaces("offer-1", pid, f"cand-{pid}", tuple(class_ids), reason, "withdrawn", ENDED_AT)


def released(class_ids=("k0", "k1"), remaining: int = 4, pid: str = "p1", reason="partnership_ended",
             detail="withdrawn") -> OfferPlacesReleased:
    return OfferPlacesReleased(offer_id="offer-1", campaign_id="camp-1", candidature_id=f"cand-{pid}",
                               partnership_id=pid, class_ids=list(class_ids), classes=len(class_ids),
                               remaining_classes=remaining, reason=reason, detail=detail)


# -- the release decider, on the offer's state: each class once, never more than was reserved --


class OfferRelease:
    """The release decider folded on the offer's own events (for ``given``)."""

    fold = staticmethod(O.fold)
    decide = staticmethod(release.decide)


GIVE_BACK = OfferRelease


def test_a_partnership_that_ends_gives_its_classes_back_to_a_full_offer():
    given(GIVE_BACK, offer_published(4), reserved("p1", 2, 2), reserved("p2", 2, 0)).when(release_cmd()).then(
        released(remaining=2))


def test_the_released_places_can_be_attributed_again():
    state = O.fold([offer_published(4), reserved("p1", 2, 2), reserved("p2", 2, 0), released(remaining=2)])
    assert state.remaining == 2 and state.reserved == 2
    assert A.attribution_must_fit_offer_capacity(state, 2) is state


def test_a_redelivered_end_releases_nothing_twice():
    given(GIVE_BACK, offer_published(4), reserved("p1", 2, 2), released()).when(release_cmd()).then()


def test_a_partnership_gives_back_only_what_it_reserved_so_the_offer_never_exceeds_its_capacity():
    # programmes names three classes, the partnership reserved two places
    [event] = given(GIVE_BACK, offer_published(4), reserved("p1", 2, 2)).when(release_cmd(("k0", "k1", "k2"))).produce()
    assert event.classes == 2 and event.remaining_classes == 4
    given(GIVE_BACK, offer_published(4)).when(release_cmd()).then()  # nothing reserved by p1: nothing to give
    given(GIVE_BACK, offer_published(4), reserved("p2", 2, 2)).when(release_cmd()).then()


def test_a_class_cancelled_then_the_end_release_each_class_once():
    after_class = given(GIVE_BACK, offer_published(3), reserved("p1", 2, 1)).when(
        release_cmd(("k1",), reason="class_cancelled")).produce()
    assert after_class == [released(("k1",), remaining=2, reason="class_cancelled")]
    given(GIVE_BACK, offer_published(3), reserved("p1", 2, 1), *after_class).when(release_cmd()).then(
        released(("k0",), remaining=3))


def test_an_unknown_offer_releases_nothing():
    given(GIVE_BACK).when(release_cmd()).then()


def test_a_withdrawn_offer_still_counts_its_released_places():
    from jumelage_contracts.candidatures import OfferWithdrawn

    withdrawn = OfferWithdrawn(offer_id="offer-1", campaign_id="camp-1", academie="paris")
    given(GIVE_BACK, offer_published(4), reserved("p1", 2, 2), withdrawn).when(release_cmd()).then(released(remaining=4))


def test_capacity_can_drop_to_what_is_still_held_after_a_release():
    state = O.fold([offer_published(4), reserved("p1", 2, 2), released(remaining=4)])
    assert state.reserved == 0
    O.capacity_cannot_drop_below_reservations(state, 1)


# -- which programmes events release what ---------------------------------------------------


def attributed(offer_id: str | None = "offer-1", classes=("k0", "k1")) -> PartnershipAttributed:
    content: CandidatureContent = culture_content(classes=[cls(c, "CM1") for c in classes], offer_id="offer-1")
    submitted = K.decide(SubmitCandidature("cand-p1", open_campaign(), O.fold([offer_published(4)]), content,
                                           datetime(2025, 5, 1, 9, tzinfo=UTC)), K.NoCandidature())
    event = submitted[0]
    return PartnershipAttributed(
        partnership_id="p1", candidature_id="cand-p1", campaign_id="camp-1", dispositif=event.dispositif,
        tier=event.tier, school_year="2025-2026", year_index=1, school=event.school, partner=None,
        offer_id=offer_id, classes=list(event.classes), calendar=open_campaign().opened.calendar)


def ended(reason="withdrawn", year_index: int = 1, school_year: str = "2025-2026", detail=None) -> PartnershipEnded:
    return PartnershipEnded(partnership_id="p1", school_year=school_year, year_index=year_index, reason=reason,
                            detail=detail, ended_at=ENDED_AT, years=year_index)


def cancelled(class_id: str = "k1", year_index: int = 1) -> ClassCancelled:
    return ClassCancelled(partnership_id="p1", school_year="2025-2026" if year_index == 1 else "2026-2027",
                          year_index=year_index, class_id=class_id, reason="Classe fermee")


def test_a_partnership_withdrawn_in_its_first_year_releases_all_its_classes():
    cmd = release.places_freed(attributed(), ended(detail="l'ecole se retire"), ENDED_AT)
    assert cmd == release.ReleasePlaces("offer-1", "p1", "cand-p1", ("k0", "k1"), "partnership_ended",
                                  "withdrawn: l'ecole se retire", ENDED_AT)
    assert release.places_freed(attributed(), ended("other"), ENDED_AT).class_ids == ("k0", "k1")


def test_a_partnership_ended_after_its_first_school_year_releases_nothing():
    assert release.places_freed(attributed(), ended(year_index=2, school_year="2026-2027"), ENDED_AT) is None
    assert release.places_freed(attributed(), ended(year_index=3, school_year="2027-2028"), ENDED_AT) is None


def test_a_year_that_ran_its_course_releases_nothing():
    for reason in ("renewal_declined", "not_renewed", "completed"):
        assert release.places_freed(attributed(), ended(reason), ENDED_AT) is None, reason


def test_a_class_cancelled_in_the_first_year_releases_that_class():
    cmd = release.places_freed(attributed(), cancelled("k1"), ENDED_AT)
    assert (cmd.class_ids, cmd.reason, cmd.detail) == (("k1",), "class_cancelled", "Classe fermee")
    assert release.places_freed(attributed(), cancelled("k1", year_index=2), ENDED_AT) is None
    assert release.places_freed(attributed(), cancelled("added-later"), ENDED_AT) is None


def test_a_partnership_without_an_offer_has_nothing_to_release():
    assert release.places_freed(attributed(offer_id=None), ended(), ENDED_AT) is None



def test_an_end_without_detail_gives_its_reason_alone_as_the_release_detail():
    assert release.places_freed(attributed(), ended(detail=None), ENDED_AT).detail == "withdrawn"


def test_the_release_detail_is_clipped_to_its_bound_when_reason_and_detail_together_exceed_it():
    cmd = release.places_freed(attributed(), ended(detail="x" * 4000), ENDED_AT)
    assert len(cmd.detail) == 4000 and cmd.detail.startswith("withdrawn: x")


def test_after_a_class_came_back_the_end_gives_back_only_what_is_still_held_even_if_asked_for_more():
    # p1 reserved two places and gave k0 back; an end naming three classes returns one place, not two
    [event] = given(GIVE_BACK, offer_published(4), reserved("p1", 2, 2), released(("k0",), remaining=3)).when(
        release_cmd(("k0", "k1", "k2"))).produce()
    assert (event.class_ids, event.remaining_classes) == (["k1"], 4)
