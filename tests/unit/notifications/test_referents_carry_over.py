"""Rule referents_carry_over_until_the_side_names_new_ones, on rows alone."""

from __future__ import annotations

from types import SimpleNamespace

from notifications.domain.referents import referents_carry_over_until_the_side_names_new_ones as in_force


def ref(name: str, side: str, year: str):
    return SimpleNamespace(referent_id=name, side=side, school_year=year)


CLAIRE, YANNICK = ref("claire", "school", "2025-2026"), ref("yannick", "partner", "2025-2026")
SOPHIE, LEA = ref("sophie", "school", "2026-2027"), ref("lea", "partner", "2027-2028")


def names(refs) -> set[str]:
    return {r.referent_id for r in refs}


def test_a_year_without_its_own_referents_keeps_the_previous_years() -> None:
    assert names(in_force([CLAIRE, YANNICK], "2026-2027")) == {"claire", "yannick"}


def test_a_side_that_names_someone_for_the_year_replaces_only_its_own_referents() -> None:
    assert names(in_force([CLAIRE, YANNICK, SOPHIE], "2026-2027")) == {"sophie", "yannick"}


def test_the_latest_earlier_year_wins_and_later_years_are_ignored() -> None:
    refs = [CLAIRE, YANNICK, SOPHIE, LEA]
    assert names(in_force(refs, "2027-2028")) == {"sophie", "lea"}
    assert names(in_force(refs, "2025-2026")) == {"claire", "yannick"}


def test_a_side_that_never_named_anyone_has_nobody() -> None:
    assert names(in_force([YANNICK], "2026-2027")) == {"yannick"}
    assert in_force([], "2026-2027") == []
