"""The foundation's thin slice, through the four services as real processes started with the
commands docker-compose.yml names, on real NATS JetStream and real PostgreSQL:

candidatures ``POST /campaigns`` → ``CampaignOpened`` → reporting counts it for the académie →
notifications plans the deadline reminders → programmes logs it (with the request's correlation id).
And the outage drill: NATS killed (-9) and restarted while campaigns are being created loses none
and doubles none."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import nats
import pytest

from jumelage_contracts.subjects import stream_name
from tests.e2e.harness import running_system
from tests.infra.nats import NatsServerProcess
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def campaign(n: int = 0, academie: str = "paris") -> dict:
    # One open campaign per académie, dispositif and school year: campaign n is for year 2027 + n.
    y = 2027 + n
    return {
        "campaign_id": f"camp-{academie}-{n}-{uuid.uuid4().hex[:6]}",
        "academie": academie,
        "dispositif": "culture",
        "school_year": f"{y}-{y + 1}",
        "title": f"Jumelages culture {y}-{y + 1} n°{n}",
        "calendar": {
            "submission_deadline": f"{y}-05-31T21:59:00Z",
            "attribution_date": f"{y}-07-02",
            "work_meeting_window": {"start": f"{y}-09-13", "end": f"{y}-10-22"},
            "bilan_window": {"start": f"{y + 1}-05-09", "end": f"{y + 1}-06-16"},
            "renewal_deadline": f"{y + 1}-06-23T21:59:00Z",
        },
    }


async def stream_messages(nats_url: str, stream: str, subject: str) -> list:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        sub = await js.pull_subscribe(subject, stream=stream)
        messages = []
        while len(messages) < info.state.messages:
            try:
                batch = await sub.fetch(500, timeout=1)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                break
            if not batch:
                break
            messages.extend(batch)
        return messages
    finally:
        await nc.close()


async def test_a_campaign_travels_from_candidatures_to_reporting_notifications_and_programmes(
    postgres_server_url, nats_url, subject_root, tmp_path
):
    async with running_system(postgres_server_url, nats_url, subject_root, tmp_path) as system:
        correlation = str(uuid.uuid4())
        body = campaign()
        async with httpx.AsyncClient(timeout=10) as client:
            created = await client.post(
                f"{system.url('candidatures')}/campaigns", json=body,
                headers={**system.token("academie", "paris"), "X-Correlation-Id": correlation},
            )
            assert created.status_code == 201, created.text
            assert created.json()["version"] >= 1

            async def counted():
                r = await client.get(f"{system.url('reporting')}/academies/paris/campaigns",
                                     headers=system.token("academie", "paris"))
                return r.json() if r.status_code == 200 and r.json()["campaigns_opened"] == 1 else None

            await eventually(counted, what="reporting to count the campaign")

            other = await client.get(f"{system.url('reporting')}/academies/paris/campaigns",
                                     headers=system.token("academie", "lyon"))
            assert other.status_code == 403

        async def reminders():
            msgs = await stream_messages(nats_url, stream_name("notifications", subject_root),
                                         f"{subject_root}.notifications.*.ReminderScheduled")
            return [json.loads(m.data) for m in msgs] or None

        planned = await eventually(reminders)
        assert planned, "notifications planned no reminder for the campaign deadline"
        assert any(body["campaign_id"] in json.dumps(p) for p in planned)

        async def logged():
            return [json.loads(line) for line in system.services["programmes"].log().splitlines()
                    if line.startswith("{") and "campaign_opened_seen" in line] or None

        lines = await eventually(logged)
        assert lines, "programmes never logged the campaign"
        assert lines[0]["campaign_id"] == body["campaign_id"]
        assert lines[0]["correlation_id"] == correlation


async def test_killing_nats_while_campaigns_are_created_loses_none_and_doubles_none(
    postgres_server_url, subject_root, tmp_path
):
    server = NatsServerProcess().start()
    try:
        async with running_system(postgres_server_url, server.url, subject_root, tmp_path) as system:
            created: list[str] = []
            async with httpx.AsyncClient(timeout=10) as client:
                for n in range(60):
                    if n == 20:
                        server.kill()  # mid-run, no goodbye
                    if n == 40:
                        server.start()
                    body = campaign(n)
                    r = await client.post(f"{system.url('candidatures')}/campaigns", json=body,
                                          headers=system.token("academie", "paris"))
                    assert r.status_code == 201, r.text  # commands keep working while NATS is down
                    created.append(body["campaign_id"])

                async def all_counted():
                    r = await client.get(f"{system.url('reporting')}/academies/paris/campaigns",
                                         headers=system.token("academie", "paris"))
                    return r.status_code == 200 and r.json()["campaigns_opened"] >= len(created)

                assert await eventually(all_counted, timeout=60, interval=0.5), "reporting lost campaigns"
                final = await client.get(f"{system.url('reporting')}/academies/paris/campaigns",
                                         headers=system.token("academie", "paris"))
                assert final.json()["campaigns_opened"] == len(created)  # none doubled

            msgs = await stream_messages(server.url, stream_name("candidatures", subject_root),
                                         f"{subject_root}.candidatures.*.CampaignOpened")
            ids = [json.loads(m.data)["campaign_id"] for m in msgs]
            assert sorted(ids) == sorted(created)  # each exactly once on JetStream
    finally:
        server.cleanup()
