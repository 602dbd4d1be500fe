"""The campaign's page (the link of campaign reminders): readable HTML under the API's scopes,
dates in the académie's time, each caller seeing only the candidatures it may see."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from candidatures_api_kit import (
    ACADEMIE,
    COLLEGE,
    OTHER_ACADEMIE,
    PARTNER,
    SCHOOL,
    SECRET,
    campaign_body,
    candidature_body,
    candidatures_client,
    offer_body,
)
from eventkit.auth import mint_token


@pytest.fixture
async def client(sqlite_url):
    async with candidatures_client(sqlite_url) as c:
        assert (await c.post("/campaigns", json=campaign_body(), headers=ACADEMIE)).status_code == 201
        body = offer_body(capacity=3)
        body["title"] = "<script>alert(1)</script> Le musée"
        assert (await c.post("/campaigns/camp-1/offers", json=body, headers=PARTNER)).status_code == 201
        r = await c.post("/campaigns/camp-1/candidatures", json=candidature_body(candidature_id="cand-1"), headers=SCHOOL)
        assert r.status_code == 201, r.text
        yield c


def cells(page: str, table: str) -> list[list[str]]:
    """The data rows of the table with that id, each as its cells' text (entities decoded)."""
    found = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S)
    if found is None:
        return []
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S) if "<td>" in row]


async def test_the_academie_sees_the_calendar_in_its_time_the_offers_and_every_candidature(client):
    r = await client.get("/campaigns/camp-1/page", headers=ACADEMIE)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    deadline = re.search(r'<td id="deadline">(.*?)</td>', r.text).group(1)
    submission = campaign_body()["calendar"]["submission_deadline"]
    local = datetime.fromisoformat(submission.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Paris"))
    assert deadline == local.strftime("%d/%m/%Y à %H:%M")
    [offer] = cells(r.text, "offers")
    assert offer[0] == "<script>alert(1)</script> Le musée" and offer[3] == "3"  # escaped text, not markup
    assert "<script>alert" not in r.text
    assert [row[0] for row in cells(r.text, "candidatures")] == ["cand-1"]


@pytest.mark.parametrize("who, seen", [(SCHOOL, ["cand-1"]), (COLLEGE, []), (OTHER_ACADEMIE, [])])
async def test_each_caller_sees_only_the_candidatures_it_may_read(client, who, seen):
    r = await client.get("/campaigns/camp-1/page", headers=who)
    assert r.status_code == 200
    assert [row[0] for row in cells(r.text, "candidatures")] == seen


async def test_a_link_with_a_token_signs_the_person_in_and_the_cookie_keeps_them_in(client):
    token = mint_token(SECRET, "school", "0750655E")
    first = await client.get("/campaigns/camp-1/page", params={"token": token})
    assert first.status_code == 200 and "cand-1" in first.text
    again = await client.get("/campaigns/camp-1/page")  # the cookie the first answer left
    assert again.status_code == 200 and "cand-1" in again.text


async def test_no_token_is_401_and_an_unknown_campaign_404_as_problem_json(client):
    client.cookies.clear()
    assert (await client.get("/campaigns/camp-1/page")).status_code == 401
    missing = await client.get("/campaigns/nope/page", headers=ACADEMIE)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


async def test_without_an_identity_provider_a_browser_without_a_token_is_told_how_to_open_the_page(client):
    browser = await client.get("/campaigns/camp-1/page", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 401 and browser.headers["content-type"].startswith("text/html")
    assert "/campaigns/camp-1/page?token=" in browser.text and "jumelage token --role" in browser.text
    for api in ({"Accept": "application/json"}, {}):  # API clients keep the problem
        answer = await client.get("/campaigns/camp-1/page", headers=api)
        assert answer.status_code == 401 and answer.headers["content-type"].startswith("application/problem+json")
