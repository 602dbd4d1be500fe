"""The notifications clock route refuses what it cannot use as 422: an instant without a time
zone, and an advance too large for a date."""

from __future__ import annotations

import httpx
import pytest

from eventkit.auth import mint_token
from eventkit.clock import ManualClock
from eventkit.http import PROBLEM
from eventkit.settings import ServiceSettings
from notifications.bootstrap import build


@pytest.fixture
async def client(tmp_path):
    from datetime import datetime, timezone

    settings = ServiceSettings(service="notifications", database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}",
                               clock="manual")
    app, _ = build(settings, clock=ManualClock(datetime(2027, 1, 1, tzinfo=timezone.utc)), scheduler_enabled=False)
    headers = {"Authorization": f"Bearer {mint_token(settings.jwt_secret, 'admin', '*')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://n", headers=headers) as c:
        yield c


@pytest.mark.parametrize("body, field", [({"now": "2027-03-01T10:00:00"}, "body.now"),
                                         ({"advance_seconds": 1e300}, "body.advance_seconds")])
async def test_a_clock_move_it_cannot_use_is_422_naming_the_field(client, body: dict, field: str) -> None:
    response = await client.post("/admin/clock", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == field
