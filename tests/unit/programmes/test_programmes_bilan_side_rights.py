"""Who records a side's part of the bilan (its satisfaction and its wish to continue, which the
renewal reads): that side, and for the school its académie; national and admin record neither,
as they sign neither side of the convention (issue 11; the README's route × role table)."""

from __future__ import annotations

import pytest

from programmes_api_support import PID, attributed, make_harness

PART = {"satisfaction": 4, "wish_to_continue": True}


@pytest.fixture
async def h():
    harness = make_harness()
    await harness.deliver(attributed())
    yield harness
    await harness.client.aclose()


@pytest.mark.parametrize("role", ["national", "admin"])
@pytest.mark.parametrize("side", ["school", "partner"])
async def test_national_and_admin_record_no_side_of_the_bilan(h, role, side):
    r = await h.client.post(f"/partnerships/{PID}/bilan/{side}", json=PART, headers=h.token(role, "*"))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    timeline = await h.client.get(f"/partnerships/{PID}/timeline", headers=h.academie)
    assert timeline.status_code == 200 and "BilanSideRecorded" not in timeline.text


async def test_the_academie_records_the_school_part_but_not_the_partner_part(h):
    school = await h.client.post(f"/partnerships/{PID}/bilan/school", json=PART, headers=h.academie)
    assert school.status_code != 403, school.text  # let in: what follows is the bilan's own rules
    partner = await h.client.post(f"/partnerships/{PID}/bilan/partner", json=PART, headers=h.academie)
    assert partner.status_code == 403, partner.text
