"""Who may set an académie's contacts (the addresses its reminders go to): the académie itself
and an admin; not another académie, not national steering, not a school or a partner
(issue 11; the README's route × role table)."""

from __future__ import annotations

import httpx
import pytest

from eventkit.auth import mint_token
from eventkit.settings import DEV_SECRET, ServiceSettings
from notifications.bootstrap import MailSettings, build

CONTACT = {"name": "DAAC de Paris", "email": "daac@ac-paris.fr"}


@pytest.fixture
async def api(harness, smtp):
    settings = ServiceSettings.from_env("notifications", env={}, clock="manual", public_url="http://notif.test")
    app, _ = build(settings, clock=harness.clock, store=harness.store, mail=MailSettings(port=smtp.port),
                   scheduler_enabled=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://notif.test") as client:
        yield client


def auth(role: str, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(DEV_SECRET, role, scope)}"}


@pytest.mark.parametrize("role,scope", [("national", "*"), ("academie", "lyon"), ("school", "0750655E"),
                                        ("partner", "partner-1")])
async def test_only_the_academie_itself_or_an_admin_sets_its_contacts(api, role: str, scope: str) -> None:
    refused = await api.put("/admin/contacts/paris/school", json=CONTACT, headers=auth(role, scope))
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize("role,scope", [("academie", "paris"), ("admin", "*")])
async def test_the_academie_and_an_admin_set_its_contacts(api, role: str, scope: str) -> None:
    done = await api.put("/admin/contacts/paris/school", json=CONTACT, headers=auth(role, scope))
    assert done.status_code == 200, done.text
    assert done.json() == {"academie": "paris", "role": "school", **CONTACT}
