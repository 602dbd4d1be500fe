"""Bounded input (issue 10): too long, too many, too large, control characters -> 422 naming the
field, never a 500, and nothing stored."""

from __future__ import annotations

import pytest

from jumelage_contracts.programmes import partnership_stream
from programmes_api_support import PID, attributed, make_harness


@pytest.fixture
async def h():
    harness = make_harness()
    await harness.deliver(attributed())
    yield harness
    await harness.client.aclose()


def action(action_id="act-1", **extra):
    return {"action_id": action_id, "kind": "visit", "title": "Visite", "class_ids": ["cm1-a"],
            "starts_at": "2025-11-18T09:00:00+01:00", "duration_minutes": 120, "place": "Musee", **extra}


def assert_422_naming(r, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.json()["detail"], r.json()


async def test_a_class_cancelled_with_a_reason_of_the_longest_size_cancels_its_actions_without_a_500(h):
    assert (await h.client.post(f"/partnerships/{PID}/actions", json=action(), headers=h.school)).status_code == 201
    r = await h.client.post(f"/partnerships/{PID}/classes/cm1-a/cancel", json={"reason": "x" * 4000}, headers=h.school)
    assert r.status_code == 200, r.text
    assert [e["type"] for e in r.json()["events"]] == ["ClassCancelled", "ActionCancelled"]


async def test_a_reason_longer_than_its_bound_is_a_422_and_nothing_is_stored(h):
    before = await h.store.stream_version(partnership_stream(PID))
    r = await h.client.post(f"/partnerships/{PID}/classes/cm1-a/cancel", json={"reason": "x" * 4001}, headers=h.school)
    assert_422_naming(r, "reason")
    assert await h.store.stream_version(partnership_stream(PID)) == before


async def test_a_nul_character_in_a_text_is_a_422_naming_the_field(h):
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action(title="Visite\x00"), headers=h.school)
    assert_422_naming(r, "title")


async def test_newlines_are_kept_in_a_multi_line_text_but_refused_in_a_title(h):
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action(description="ligne 1\nligne 2\tfin"),
                            headers=h.school)
    assert r.status_code == 201, r.text
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action("act-2", title="Visite\nbis"), headers=h.school)
    assert_422_naming(r, "title")


async def test_staff_present_of_ten_to_the_twentieth_is_a_422(h):
    r = await h.client.post(f"/partnerships/{PID}/actions/act-1/complete", json={"staff_present": 10**20},
                            headers=h.school)
    assert_422_naming(r, "staff_present")


@pytest.mark.parametrize("path, body, field", [
    ("meetings", {"kind": "follow_up", "starts_at": "2025-11-18T09:00:00+01:00", "place": "Ecole",
                  "attendees_planned": ["Mme A"] * 1000}, "attendees_planned"),
    ("actions", action(class_ids=[f"c{i}" for i in range(1000)]), "class_ids"),
    ("funding", {"amount_eur": 100, "budget": [{"label": "x", "amount_eur": 1}] * 1000}, "budget"),
    ("funding", {"amount_eur": 10**20}, "amount_eur"),
])
async def test_lists_and_numbers_beyond_their_bounds_are_a_422(h, path, body, field):
    r = await h.client.post(f"/partnerships/{PID}/{path}", json=body, headers=h.school)
    assert_422_naming(r, field)


async def test_a_naive_timestamp_is_a_422_naming_the_field(h):
    r = await h.client.post(f"/partnerships/{PID}/actions", json=action(starts_at="2025-11-18T09:00:00"),
                            headers=h.school)
    assert_422_naming(r, "starts_at")
