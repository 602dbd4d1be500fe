"""Thin slice: CampaignOpened plans the deadline reminders; moving the clock sends them to a real
SMTP server."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from jumelage_contracts.candidatures import CampaignOpened

UTC = timezone.utc
EXAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "jumelage_contracts" / "examples"


def campaign_opened(**changes) -> CampaignOpened:
    data = json.loads((EXAMPLES / "CampaignOpened.v1.json").read_text())
    data.update(changes)
    return CampaignOpened.model_validate(data)


async def test_a_campaign_opened_plans_its_deadline_reminders_in_the_same_transaction(harness) -> None:
    await harness.play(campaign_opened())
    timers = await harness.timers()
    assert [(t.rule, t.due_at) for t in timers] == [
        ("campaign_deadline_j_minus_7", datetime(2025, 5, 24, 6, 0, tzinfo=UTC)),
        ("campaign_deadline_j_minus_1", datetime(2025, 5, 30, 6, 0, tzinfo=UTC)),
    ]
    scheduled = await harness.events("ReminderScheduled")
    assert sorted(e.data["rule"] for e in scheduled) == sorted(t.rule for t in timers)
    assert all(e.stream_id == f"reminder-{e.data['reminder_id']}" for e in scheduled)


async def test_moving_the_clock_past_the_deadline_reminders_sends_them_once(harness) -> None:
    await harness.play(campaign_opened())
    assert await harness.move_to(datetime(2025, 5, 24, 5, 59, tzinfo=UTC)) == 0
    assert harness.mailbox.messages == []
    assert await harness.move_to(datetime(2025, 5, 24, 6, 0, tzinfo=UTC)) == 1
    (mail,) = harness.mailbox.messages
    assert "plus que 7 jours" in mail["Subject"]
    assert harness.mailbox.envelopes[0][1] == ["diffusion.jumelage@ac-paris.fr"]
    body = harness.mailbox.body(mail)
    assert "samedi 31 mai 2025 à 23 h 59" in body and "Jumelages culture 2025-2026" in body
    assert "campaign_deadline_j_minus_7" in mail["Message-ID"] and mail["X-Jumelage-Dedup-Key"]
    assert await harness.move_to(datetime(2025, 5, 29, tzinfo=UTC)) == 0  # fired once
    assert await harness.move_to(datetime(2025, 6, 1, tzinfo=UTC)) == 1
    assert len(harness.mailbox.messages) == 2
    sent = await harness.events("ReminderSent")
    assert [e.data["message_id"] for e in sent] == [m["Message-ID"] for m in harness.mailbox.messages]


async def test_a_redelivered_campaign_opened_plans_nothing_twice(harness) -> None:
    first = await harness.play(campaign_opened())
    await harness.deliver(first, campaign_opened())
    # the same fact in a different envelope (a replay from another position) neither
    await harness.play(campaign_opened())
    assert len(await harness.timers()) == 2
    assert len(await harness.events("ReminderScheduled")) == 2
