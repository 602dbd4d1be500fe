"""The national page: every académie side by side on the main indicators, the national total last,
for the national role only; each figure equal to what the JSON API answers for that académie."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from jumelage_contracts.reference import Academie
from reporting.app.views import NATIONAL_KEYS
from reporting_app import reporting_app, story

NOW = datetime(2027, 1, 15, 12, tzinfo=timezone.utc)


@pytest.fixture
async def app(sqlite_url):
    app = await reporting_app(sqlite_url, NOW)
    await app.apply(story())
    yield app
    await app.client.aclose()
    await app.store.close()


def row_of(page: str, code: str) -> dict[str, str]:
    row = re.search(rf'<tr[^>]*data-academie="{re.escape(code)}">(.*?)</tr>', page, re.S).group(1)
    return dict(re.findall(r'<td data-indicator="([a-z_]+)">([^<]*)</td>', row))


async def test_every_academie_is_a_row_with_the_figures_of_its_own_indicators(app) -> None:
    r = await app.client.get("/national", headers=app.auth("national", "*"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert len(re.findall(r'<tr[^>]*data-academie="[a-z-]+">', r.text)) == len(Academie)
    paris = (await app.client.get("/indicators?academie=paris", headers=app.auth("national", "*"))).json()["indicators"]
    shown = row_of(r.text, "paris")
    assert list(shown) == list(NATIONAL_KEYS)
    assert shown["partnerships_active"] == str(paris["partnerships_active"]) != "0"
    assert shown["pupils_reached"] == str(paris["pupils_reached"])
    # an académie without any activity shows zeros, not a gap
    assert row_of(r.text, "lille")["candidatures_submitted"] == "0"
    everywhere = (await app.client.get("/indicators", headers=app.auth("national", "*"))).json()["indicators"]
    assert row_of(r.text, "*")["partnerships_active"] == str(everywhere["partnerships_active"])
    assert 'href="/dashboard/paris?as_of=' in r.text


@pytest.mark.parametrize("role, scope", [("academie", "paris"), ("school", "0750655E"), ("partner", "musee-carnavalet")])
async def test_only_the_national_role_opens_it(app, role, scope) -> None:
    assert (await app.client.get("/national", headers=app.auth(role, scope))).status_code == 403


async def test_without_a_token_it_is_401(app) -> None:
    assert (await app.client.get("/national")).status_code == 401
