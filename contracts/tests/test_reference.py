"""Reference types: UAI check letter, académies, levels, school years, the school fixture."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from jumelage_contracts.reference import (
    UAI,
    UAI_CHECK_ALPHABET,
    Academie,
    EacDomain,
    EducationPrioritaire,
    Level,
    Ruralite,
    SchoolYear,
    Stage,
    academie_of_departement,
    academie_of_uai,
    departement_of_uai,
    is_valid_uai,
    levels_of,
    next_school_year,
    parse_uai,
    school,
    school_year_end,
    school_year_of,
    school_year_start,
    schools,
    schools_in,
    uai_check_letter,
)


class HasUai(BaseModel):
    uai: UAI


class HasYear(BaseModel):
    year: SchoolYear


def test_the_documented_uai_is_valid_and_its_neighbour_letter_is_not():
    assert parse_uai("0750655E") == "0750655E"
    assert not is_valid_uai("0750655F")


def test_a_uai_field_normalises_to_upper_case():
    assert HasUai(uai=" 0750655e ").uai == "0750655E"


@pytest.mark.parametrize("bad", ["0750655F", "075065E", "07506550E", "0750655I", "ABCDEFGE", "", "0750655"])
def test_a_uai_field_rejects_malformed_values_naming_the_field(bad):
    with pytest.raises(ValidationError) as info:
        HasUai(uai=bad)
    assert info.value.errors()[0]["loc"] == ("uai",)


@given(st.integers(min_value=0, max_value=9_999_999))
def test_any_seven_digits_with_their_check_letter_form_a_valid_uai(n):
    digits = f"{n:07d}"
    letter = uai_check_letter(digits)
    assert is_valid_uai(digits + letter)
    others = set(UAI_CHECK_ALPHABET) - {letter}
    assert not any(is_valid_uai(digits + other) for other in others)


def test_the_check_alphabet_leaves_out_letters_that_look_like_digits():
    assert len(UAI_CHECK_ALPHABET) == 23
    assert not {"I", "O", "Q"} & set(UAI_CHECK_ALPHABET)


@pytest.mark.parametrize(
    "digits,departement,academie",
    [
        ("0750655", "75", Academie.paris),
        ("0130001", "13", Academie.aix_marseille),
        ("6200001", "2A", Academie.corse),
        ("7200001", "2B", Academie.corse),
        ("9710001", "971", Academie.guadeloupe),
        ("9750001", "975", Academie.normandie),
        ("0010001", "01", Academie.lyon),
    ],
)
def test_the_departement_and_academie_come_from_the_uai_prefix(digits, departement, academie):
    uai = digits + uai_check_letter(digits)
    assert departement_of_uai(uai) == departement
    assert academie_of_uai(uai) is academie


def test_there_are_thirty_academies_and_each_departement_belongs_to_exactly_one():
    assert len(Academie) == 30
    all_deps = [dep for a in Academie for dep in a.departements]
    assert len(all_deps) == len(set(all_deps))
    # 96 metropolitan départements (Corse split in two) and 8 overseas codes.
    assert len(all_deps) == 104
    for a in Academie:
        assert a.label
        for dep in a.departements:
            assert academie_of_departement(dep) is a


def test_departement_codes_are_accepted_in_their_usual_spellings():
    assert academie_of_departement("075") is Academie.paris
    assert academie_of_departement("1") is Academie.lyon
    assert academie_of_departement("2a") is Academie.corse
    with pytest.raises(ValueError):
        academie_of_departement("99")


def test_academie_values_are_the_agreed_slugs():
    assert Academie("la-reunion").label == "La Réunion"
    assert Academie.orleans_tours.value == "orleans-tours"
    assert all(a.value.isascii() and a.value == a.value.lower() for a in Academie)


def test_education_prioritaire_values_match_the_annuaire():
    assert [e.value for e in EducationPrioritaire] == ["REP", "REP+", "none"]


def test_rurality_has_seven_levels_and_the_last_three_are_rural():
    assert len(Ruralite) == 7
    assert [r.is_rural for r in Ruralite] == [False] * 4 + [True] * 3


def test_levels_are_grouped_by_stage_and_the_entreprise_range_starts_in_5e():
    assert Level("6e").stage is Stage.college
    assert levels_of("maternelle") == (Level.PS, Level.MS, Level.GS)
    assert Level.BTS.stage is Stage.postbac
    assert Level.CAP1.stage is Stage.pro
    assert not Level.SIXIEME.in_jes and Level.CINQUIEME.in_jes and Level.BTS.in_jes
    assert all(lv.value.isascii() for lv in Level)


def test_eac_domains_are_numbered_one_to_seventeen_with_labels():
    assert [d.value for d in EacDomain] == list(range(1, 18))
    assert EacDomain(11).label == "Univers du livre, de la lecture et des écritures"


def test_a_school_year_spans_two_consecutive_years():
    assert HasYear(year="2025-2026").year == "2025-2026"
    for bad in ["2025-2027", "2025/2026", "25-26", "2026-2025"]:
        with pytest.raises(ValidationError):
            HasYear(year=bad)


def test_a_school_year_runs_from_the_rentree_to_early_july():
    assert school_year_start("2025-2026") == date(2025, 9, 1)
    assert school_year_end("2025-2026") == date(2026, 7, 7)
    assert school_year_of(date(2025, 9, 1)) == "2025-2026"
    assert school_year_of(date(2026, 7, 7)) == "2025-2026"
    assert school_year_of(date(2026, 7, 8)) == "2026-2027"
    assert next_school_year("2025-2026") == "2026-2027"


def test_the_school_fixture_is_valid_and_spread_over_many_academies():
    fixture = schools()
    assert len(fixture) >= 40
    assert len({s.uai for s in fixture}) == len(fixture)
    assert len({s.academie for s in fixture}) >= 10
    assert {s.education_prioritaire for s in fixture} == set(EducationPrioritaire)
    assert any(s.ruralite.is_rural for s in fixture)
    first = fixture[0]
    assert school(first.uai.lower()) == first
    assert all(s.academie is Academie.corse for s in schools_in("corse"))


def test_an_unknown_school_is_a_key_error():
    with pytest.raises(KeyError):
        school("0750655E")


@given(st.integers(min_value=1990, max_value=2100))
def test_every_day_of_a_school_year_belongs_to_it_and_the_years_chain(start):
    from datetime import timedelta

    from jumelage_contracts.reference import previous_school_year, school_year

    year = school_year(start)
    first, last = school_year_start(year), school_year_end(year)
    assert school_year_of(first) == year and school_year_of(last) == year
    assert school_year_of(last + timedelta(days=1)) == next_school_year(year)
    assert previous_school_year(next_school_year(year)) == year


@pytest.mark.parametrize("academie, moment, day", [
    # each side of midnight between 31 August and 1 September in the académie's own zone:
    # Paris and Corse UTC+2 in summer, La Réunion UTC+4, Mayotte UTC+3, the Antilles UTC-4, Guyane UTC-3
    ("paris", "2025-08-31T22:30:00+00:00", date(2025, 9, 1)),
    ("corse", "2025-08-31T21:59:00+00:00", date(2025, 8, 31)),
    ("la-reunion", "2025-08-31T20:00:00+00:00", date(2025, 9, 1)),
    ("la-reunion", "2025-08-31T19:59:00+00:00", date(2025, 8, 31)),
    ("mayotte", "2025-08-31T21:00:00+00:00", date(2025, 9, 1)),
    ("martinique", "2025-09-01T03:59:00+00:00", date(2025, 8, 31)),
    ("martinique", "2025-09-01T04:00:00+00:00", date(2025, 9, 1)),
    ("guadeloupe", "2025-09-01T04:00:00+00:00", date(2025, 9, 1)),
    ("guyane", "2025-09-01T02:59:00+00:00", date(2025, 8, 31)),
])
def test_an_academie_counts_days_in_its_own_time_zone(academie, moment, day):
    assert Academie(academie).day_of(datetime.fromisoformat(moment)) == day


def test_every_academie_has_a_time_zone_the_system_knows():
    for academie in Academie:
        assert ZoneInfo(academie.time_zone).key == academie.time_zone
