"""Every code that reporting files under ``kind`` has a French label, so a CSV or the dashboard
never shows a raw code: action kinds, audiences, sides, meeting and convention kinds, culture
tiers, avis (contracts) and reminder rules (notifications' table)."""

from __future__ import annotations

import pytest

from jumelage_contracts.programmes import ConventionKind, MeetingKind, Side
from jumelage_contracts.reference import ActionKind, Audience, Avis, CultureTier
from notifications.domain.rules import DEFAULT_RULES
from reporting.domain.labels import KINDS, value

CODES = sorted({
    *(str(m.value) for enum in (ActionKind, Audience, Side, MeetingKind, ConventionKind, CultureTier, Avis)
      for m in enum),
    *(rule.name for rule in DEFAULT_RULES),
})


@pytest.mark.parametrize("code", CODES)
def test_every_kind_code_has_a_french_label(code):
    assert code in KINDS, f"add a French label for {code!r} to reporting.domain.labels.KINDS"
    assert value("kind", code) != code


def test_an_unknown_code_shows_as_itself_rather_than_disappearing():
    assert value("kind", "a_rule_added_later") == "a_rule_added_later"
