"""Retention (RGPD, issue 16): whom programmes erases when notifications says a partnership's
retention ran out. Given the events programmes saw (years opened, referents designated, earlier
expiries and erasures), when an expiry comes, then the people it erases.

A person goes only when EVERY partnership they were designated on is past its retention; a
renewal (a later year opened) makes a partnership live again and overtakes an expiry of an
earlier year."""

from __future__ import annotations

from datetime import datetime, timezone

from jumelage_contracts.notifications import RetentionExpired
from jumelage_contracts.programmes import PersonErased, ProgrammeYearOpened, ReferentDesignated
from programmes.domain import retention as r

from programmes_builders import opened, open_year, events_after

UTC = timezone.utc
NOW = datetime(2029, 9, 1, tzinfo=UTC)


def year(pid: str, year_index: int = 1) -> ProgrammeYearOpened:
    if year_index == 1:
        return next(e for e in opened(pid=pid) if isinstance(e, ProgrammeYearOpened))
    history = opened(pid=pid)
    for index in range(2, year_index + 1):
        history += events_after(history, open_year(year_index=index, start_year=2024 + index, pid=pid))
    return [e for e in history if isinstance(e, ProgrammeYearOpened)][-1]


def designated(pid: str, person: str, year_index: int = 1) -> ReferentDesignated:
    return ReferentDesignated(partnership_id=pid, school_year=f"{2024 + year_index}-{2025 + year_index}",
                              year_index=year_index, referent_id=person, side="school", role="teacher",
                              name="Claire Martin", email="claire.martin@ac-paris.fr")


def expired(pid: str, year_index: int = 1) -> RetentionExpired:
    school_year = f"{2024 + year_index}-{2025 + year_index}"
    return RetentionExpired(partnership_id=pid, dispositif="culture", school_year=school_year, year_index=year_index,
                            retained_from=datetime(2025 + year_index, 8, 31, 22, tzinfo=UTC), retention_years=3,
                            due_at=datetime(2028 + year_index, 8, 31, 22, tzinfo=UTC), expired_at=NOW)


def erased(person: str) -> PersonErased:
    return PersonErased(person_id=person, reason="retention", erased_at=NOW)


def given(*events):
    state = r.fold(events)

    class When:
        def when(self, command: r.ExpireRetention):
            produced = r.decide(command, state)

            class Then:
                def then(self, expected: list) -> None:
                    assert produced == expected

            return Then()

    return When()


def expire(pid: str, year_index: int = 1) -> r.ExpireRetention:
    return r.ExpireRetention(partnership_id=pid, year_index=year_index, now=NOW)


def test_the_referents_of_a_partnership_past_its_retention_are_erased() -> None:
    given(year("p1"), designated("p1", "ref-a"), designated("p1", "ref-b")) \
        .when(expire("p1")).then([erased("ref-a"), erased("ref-b")])


def test_a_referent_shared_with_a_partnership_still_within_its_retention_is_kept() -> None:
    given(year("p1"), year("p2"), designated("p1", "ref-a"), designated("p2", "ref-a"), designated("p1", "ref-b")) \
        .when(expire("p1")).then([erased("ref-b")])


def test_the_shared_referent_goes_when_her_last_partnership_expires_too() -> None:
    given(year("p1"), year("p2"), designated("p1", "ref-a"), designated("p2", "ref-a"), expired("p1")) \
        .when(expire("p2")).then([erased("ref-a")])


def test_a_renewal_overtakes_an_expiry_of_the_year_before() -> None:
    given(year("p1"), designated("p1", "ref-a"), year("p1", 2)) \
        .when(expire("p1", 1)).then([])


def test_the_renewed_year_expires_in_its_turn() -> None:
    given(year("p1"), designated("p1", "ref-a"), year("p1", 2)) \
        .when(expire("p1", 2)).then([erased("ref-a")])


def test_a_partnership_renewed_after_its_expiry_is_live_again_for_its_shared_referent() -> None:
    given(year("p1"), year("p2"), designated("p1", "ref-a"), designated("p2", "ref-a"), expired("p1"),
          year("p1", 2)).when(expire("p2")).then([])


def test_an_expiry_repeated_erases_nobody_twice() -> None:
    given(year("p1"), designated("p1", "ref-a"), expired("p1"), erased("ref-a")) \
        .when(expire("p1")).then([])


def test_a_person_erased_on_request_is_not_erased_again() -> None:
    given(year("p1"), designated("p1", "ref-a"), designated("p1", "ref-b"), erased("ref-a")) \
        .when(expire("p1")).then([erased("ref-b")])


def test_an_expiry_of_a_partnership_never_opened_here_erases_nobody() -> None:
    given(year("p1"), designated("p1", "ref-a")).when(expire("p-unknown")).then([])


def test_a_person_designated_on_a_partnership_unknown_here_is_kept() -> None:
    # a designation whose year never reached the state: counted as live, never as past retention
    given(year("p1"), designated("p1", "ref-a"), designated("p-unknown", "ref-a")) \
        .when(expire("p1")).then([])


def test_the_state_knows_which_partnerships_are_past_retention() -> None:
    state = r.fold([year("p1"), year("p2"), expired("p1"), expired("p2"), year("p2", 2)])
    assert r.past_retention(state, "p1") and not r.past_retention(state, "p2")
