"""The partnership's page: what a referent opens from an e-mail or a calendar entry.

Through the real route, with the API's scopes: the school, the partner and the académie of the
partnership read it (bearer, ``?token=`` or the cookie that ``?token=`` leaves), another académie
gets 403, an unknown partnership 404; everything the users typed is escaped."""

from __future__ import annotations

import pytest

from eventkit.auth import mint_token
from programmes_api_support import PID, attributed, make_harness

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
async def h():
    harness = make_harness()
    await harness.deliver(attributed())
    post = harness.client.post
    assert (await post(f"/partnerships/{PID}/referents", headers=harness.school, json={
        "side": "school", "role": "teacher", "name": "Claire Martin", "email": "claire.martin@ac-paris.fr"})).is_success
    assert (await post(f"/partnerships/{PID}/meetings", headers=harness.school, json={
        "kind": "work", "starts_at": "2025-09-25T17:00:00+02:00", "place": "Salle des maîtres"})).is_success
    assert (await post(f"/partnerships/{PID}/actions", headers=harness.school, json={
        "action_id": "act-1", "kind": "visit", "title": f"Visite {HOSTILE}", "class_ids": ["cm1-a"],
        "starts_at": "2025-11-18T09:00:00+01:00", "duration_minutes": 120, "place": "Musée Carnavalet"})).is_success
    yield harness
    await harness.client.aclose()


async def test_the_school_reads_its_programme_per_class_with_dates_places_referents_and_meetings(h):
    r = await h.client.get(f"/partnerships/{PID}/page", headers=h.school)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    for shown in ("2025-2026", "CM1 A", "CM2 B", "Musée Carnavalet", "18/11/2025 09:00", "Claire Martin",
                  "claire.martin@ac-paris.fr", "Salle des maîtres", "25/09/2025 17:00", "prévue", "en cours"):
        assert shown in page, shown
    assert HOSTILE not in page and "&lt;script&gt;" in page


async def test_the_partner_and_the_academie_open_it_from_a_link_with_the_token_in_the_query(h):
    for role, scope in (("partner", "musee-carnavalet"), ("academie", "paris")):
        token = mint_token(h.settings.jwt_secret, role, scope)
        r = await h.client.get(f"/partnerships/{PID}/page", params={"token": token})
        assert r.status_code == 200, (role, r.text)
    # the link's token stays in a cookie, so the page's own links work without it
    assert (await h.client.get(f"/partnerships/{PID}/page")).status_code == 200


async def test_another_academie_is_refused_and_an_unknown_partnership_is_not_found(h):
    assert (await h.client.get(f"/partnerships/{PID}/page", headers=h.token("academie", "lille"))).status_code == 403
    missing = await h.client.get("/partnerships/p-nope/page", headers=h.academie)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


async def test_without_a_token_the_page_answers_401(h):
    assert (await h.client.get(f"/partnerships/{PID}/page")).status_code == 401


async def test_without_an_identity_provider_a_browser_gets_a_401_page_saying_how_to_sign_in(h):
    browser = await h.client.get(f"/partnerships/{PID}/page",
                                 headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 401 and browser.headers["content-type"].startswith("text/html")
    assert f"http://127.0.0.1:8102/partnerships/{PID}/page?token=" in browser.text
    assert "jumelage token --role" in browser.text
    assert browser.headers["www-authenticate"] == "Bearer"
    # no identity provider, no callback to reach
    assert (await h.client.get("/auth/callback?state=x&code=y", headers={"Accept": "text/html"})).status_code == 404


async def test_api_clients_without_a_token_keep_a_problem_json_401(h):
    for accept in ({"Accept": "application/json"}, {"Accept": "*/*"}, {},
                   {"Accept": "application/json, text/html;q=0.5"}):
        answer = await h.client.get(f"/partnerships/{PID}/page", headers=accept)
        assert answer.status_code == 401, accept
        assert answer.headers["content-type"].startswith("application/problem+json"), accept
