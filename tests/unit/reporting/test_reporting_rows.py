"""The projector writes a fact, an answer or a rencontre as its fields plus the event's day and
académie (``Projector._project``): their fields must be their tables' columns, no more, no less."""

from __future__ import annotations

from dataclasses import fields

import pytest
from reporting.adapters.tables import generation
from reporting.domain.model import Answer, Fact, Rencontre


@pytest.mark.parametrize("model, table", [(Fact, "fact"), (Answer, "answer"), (Rencontre, "rencontre")])
def test_a_projected_row_is_its_fields_with_the_events_day_and_academie(model, table):
    columns = {c.name for c in getattr(generation(1), table).columns} - {"id"}
    assert {f.name for f in fields(model)} | {"day", "academie"} == columns
