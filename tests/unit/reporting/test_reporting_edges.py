"""Reporting's known 500s, now answered as the client's mistake: a non-Latin-1 ``?token=`` next to
a bearer token on the dashboard, and an ``offset`` past what a database integer holds."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from eventkit.http import MAX_OFFSET, PROBLEM
from reporting_app import reporting_app, story

NOW = datetime(2027, 1, 15, 12, tzinfo=timezone.utc)


@pytest.fixture
async def api(sqlite_url):
    app = await reporting_app(sqlite_url, NOW)
    await app.apply(story())
    yield app
    await app.client.aclose()
    await app.store.close()


async def test_a_non_latin1_query_token_next_to_a_bearer_token_is_not_a_500(api) -> None:
    response = await api.client.get("/dashboard/paris", params={"token": "jéton-€"}, headers=api.auth())
    assert response.status_code == 200
    assert "set-cookie" not in response.headers  # only a token that signed the caller in is kept


@pytest.mark.parametrize("path", ["/partnerships", "/indicators/by/dispositif"])
@pytest.mark.parametrize("offset", [2**63, MAX_OFFSET + 1, -1])
async def test_an_offset_out_of_bounds_is_422_naming_it(api, path: str, offset: int) -> None:
    response = await api.client.get(path, params={"offset": offset}, headers=api.auth("national", "*"))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "query.offset"
