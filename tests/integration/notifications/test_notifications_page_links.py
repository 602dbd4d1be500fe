"""E-mails and calendar entries link to the partnership's page (programmes' HTML page), which a
person can open, at the programmes service's public address — not to a JSON endpoint."""

from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy

import httpx
import pytest
from icalendar import Calendar

from eventkit.auth import mint_token
from eventkit.settings import DEV_SECRET, ServiceSettings
from notifications.bootstrap import MailSettings, build
from tests.integration.notifications.notif_events import PID, example, play_programme, referents
from tests.integration.notifications.notif_harness import make_harness

UTC = timezone.utc
PROGRAMMES = "https://jumelage.example.fr/programmes"
PAGE = f"{PROGRAMMES}/partnerships/{PID}/page"


CANDIDATURES = "https://jumelage.example.fr/candidatures"


@pytest.fixture
async def linked(sqlite_url, smtp):
    h = await make_harness(sqlite_url, smtp, datetime(2025, 4, 1, 8, 0, tzinfo=UTC), programmes_url=PROGRAMMES + "/",
                           portal_url=CANDIDATURES)
    yield h
    await h.store.close()


async def test_a_reminder_sent_over_smtp_links_to_the_partnership_page(linked) -> None:
    linked.clock.set(datetime(2025, 7, 4, 10, 0, tzinfo=UTC))
    await linked.play(example("CampaignOpened"))
    await linked.play(example("PartnershipAttributed"))
    for referent in referents():
        await linked.play(referent)
    await linked.move_to(datetime(2025, 9, 15, 6, 0, tzinfo=UTC))

    (raw,) = linked.mailbox.raw  # as the real SMTP server received it
    message = message_from_bytes(raw, policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f"Lien : {PAGE}" in text and f'href="{PAGE}"' in html
    assert "http://notif.test/ical/" in text  # the calendar feed stays offered beside it


async def test_a_campaign_reminder_links_to_the_campaign_page(linked) -> None:
    await linked.play(example("CampaignOpened"))
    await linked.move_to(datetime(2025, 5, 24, 6, 0, tzinfo=UTC))

    (raw,) = linked.mailbox.raw
    message = message_from_bytes(raw, policy=policy.default)
    page = f"{CANDIDATURES}/campaigns/camp-paris-culture-2025-2026/page"
    assert f"Lien : {page}" in message.get_body(preferencelist=("plain",)).get_content()
    assert f'href="{page}"' in message.get_body(preferencelist=("html",)).get_content()


async def test_each_calendar_entry_of_a_partnership_carries_the_page_url(linked, smtp) -> None:
    settings = ServiceSettings.from_env("notifications", env={}, clock="manual", public_url="http://notif.test")
    app, _ = build(settings, clock=linked.clock, store=linked.store, scheduler_enabled=False,
                   mail=MailSettings(port=smtp.port, programmes_url=PROGRAMMES))
    await play_programme(linked)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://notif.test") as api:
        school = {"Authorization": f"Bearer {mint_token(DEV_SECRET, 'school', '0750655E')}"}
        url = (await api.get(f"/feeds/partnership/{PID}", headers=school)).json()["url"]
        events = Calendar.from_ical((await api.get(url)).content).walk("VEVENT")
    assert events and {str(e["URL"]) for e in events} == {PAGE}


def test_the_programmes_address_comes_from_the_environment() -> None:
    assert MailSettings.from_env({"PROGRAMMES_PUBLIC_URL": PROGRAMMES}).programmes_url == PROGRAMMES
    assert MailSettings.from_env({}).programmes_url == "http://127.0.0.1:8102"
