"""Retention per dispositif (RGPD, issue 16): the operator's setting, read and checked at start,
and when a partnership's retention runs out (in its académie's time zone)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jumelage_contracts.reference import Dispositif
from notifications.domain.retention import (
    DEFAULT_YEARS,
    RetentionPolicy,
    RetentionSettingError,
    due_at,
    retained_from,
)

UTC = timezone.utc


def test_with_no_setting_every_dispositif_keeps_its_people_three_years() -> None:
    policy = RetentionPolicy.from_env({})
    assert {d: policy.years(d) for d in Dispositif} == {d: 3 for d in Dispositif} == DEFAULT_YEARS


def test_one_variable_per_dispositif_sets_its_years_or_never() -> None:
    policy = RetentionPolicy.from_env({"RETENTION_YEARS_CULTURE": "1", "NOTIFICATIONS_RETENTION_YEARS_CONCERTATION": "5",
                                       "RETENTION_YEARS_CENTRE_SOCIAL": "never", "RETENTION_YEARS_MERCREDI": "0"})
    assert policy.years(Dispositif.culture) == 1
    assert policy.years(Dispositif.concertation) == 5
    assert policy.years(Dispositif.centre_social) is None
    assert policy.years(Dispositif.mercredi) == 0
    assert policy.years(Dispositif.entreprise) == 3


def test_the_service_variable_wins_over_the_shared_one() -> None:
    policy = RetentionPolicy.from_env({"RETENTION_YEARS_CULTURE": "1", "NOTIFICATIONS_RETENTION_YEARS_CULTURE": "2"})
    assert policy.years(Dispositif.culture) == 2


@pytest.mark.parametrize("value", ["trois", "-1", "2.5", "", "101"])
def test_a_bad_value_stops_the_start_naming_the_variable(value: str) -> None:
    with pytest.raises(RetentionSettingError) as caught:
        RetentionPolicy.from_env({"RETENTION_YEARS_ENTREPRISE": value})
    assert "RETENTION_YEARS_ENTREPRISE" in str(caught.value)


def test_a_misspelt_dispositif_stops_the_start_naming_the_variable_and_the_known_ones() -> None:
    with pytest.raises(RetentionSettingError) as caught:
        RetentionPolicy.from_env({"RETENTION_YEARS_CULTRE": "2"})
    assert "RETENTION_YEARS_CULTRE" in str(caught.value) and "RETENTION_YEARS_CULTURE" in str(caught.value)


def test_the_retention_counts_from_the_end_of_31_august_in_the_academie() -> None:
    assert retained_from("2025-2026", "paris", None) == datetime(2026, 8, 31, 22, tzinfo=UTC)  # CEST
    assert retained_from("2025-2026", "la-reunion", None) == datetime(2026, 8, 31, 20, tzinfo=UTC)


def test_a_partnership_ended_within_its_year_counts_from_the_end_of_that_year() -> None:
    assert retained_from("2025-2026", "paris", datetime(2026, 6, 30, 10, tzinfo=UTC)) == datetime(2026, 8, 31, 22, tzinfo=UTC)


def test_a_partnership_ended_after_its_year_counts_from_its_end() -> None:
    ended = datetime(2026, 10, 2, 10, tzinfo=UTC)
    assert retained_from("2025-2026", "paris", ended) == ended


def test_the_retention_runs_out_n_years_later_at_the_same_local_time() -> None:
    start = retained_from("2025-2026", "paris", None)
    assert due_at(start, 3, "paris") == datetime(2029, 8, 31, 22, tzinfo=UTC)
    assert due_at(start, 0, "paris") == start
    winter = datetime(2026, 12, 1, 10, tzinfo=UTC)  # 11:00 in Paris (CET); in 2029 too
    assert due_at(winter, 3, "paris") == datetime(2029, 12, 1, 10, tzinfo=UTC)


def test_a_29_february_end_runs_out_on_28_february() -> None:
    assert due_at(datetime(2028, 2, 29, 12, tzinfo=UTC), 1, "paris") == datetime(2029, 2, 28, 12, tzinfo=UTC)
