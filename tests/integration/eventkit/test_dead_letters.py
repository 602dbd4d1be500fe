"""Operators list the dead letters and replay them once the cause is fixed — real NATS, real store.

The consumer that dead-lettered an event applies it on replay; a consumer that had applied it
skips it; a dead letter is replayed once, and not before JetStream's duplicate window has passed
(the copy carries the original's id, which is the event id)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from typer.testing import CliRunner

from eventkit.bus import list_dead_letters, replay
from eventkit.cli import app
from jumelage_contracts.subjects import dead_letter_stream
from eventkit.bus import StreamLimits
from tests.integration.eventkit.bus_support import (
    Projection,
    campaign_event,
    connected,
    eventually,
    make_consumer,
    open_store,
    publish_envelopes,
    running,
)

pytestmark = pytest.mark.integration
WINDOW = 5.0  # the stream's duplicate window, seconds


def cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


async def test_a_dead_letter_is_listed_with_its_cause_and_replayed_once_the_handler_is_fixed(
        request, nats_url, subject_root):
    import structlog

    logging_config = structlog.get_config()  # the CLI quiets the logs: give them back afterwards
    env = {"NATS_URL": nats_url, "NATS_SUBJECT_ROOT": subject_root}
    events = [campaign_event(i) for i in range(4)]
    async with open_store("postgres", request) as store, open_store("sqlite", request, name="other") as other, \
            connected(nats_url, subject_root, limits=StreamLimits(duplicate_window=WINDOW)) as nats:
        published_at = time.monotonic()
        await publish_envelopes(nats, subject_root, events)
        buggy = Projection(poison={"campaign-2"})  # a handler bug on one event
        healthy = Projection()
        first = make_consumer(store, nats, subject_root, buggy, name="reporting-test", max_attempts=2)
        second = make_consumer(other, nats, subject_root, healthy, name="programmes-test")
        async with running(first, second):
            await eventually(lambda: first.counts.get("applied", 0) == 3 and first.counts.get("dead_lettered") == 1
                             and second.counts.get("applied", 0) == 4, what="3 applied and 1 dead letter")

            letters = await list_dead_letters(nats, subject_root)
            assert [(d.consumer, d.error_type, d.original_stream, d.original_seq) for d in letters] == [
                ("reporting-test", "ValueError", f"{subject_root}_CANDIDATURES".upper(), 3)]
            assert "bad campaign campaign-2" in letters[0].error
            assert letters[0].original_subject.endswith(".CampaignClosed")
            assert letters[0].original_headers["Nats-Msg-Id"] == str(events[2].id)
            assert await list_dead_letters(nats, subject_root, consumer="programmes-test") == []

            listed = await asyncio.to_thread(cli, env, "dead-letters", "list", "--json")
            rows = [json.loads(line) for line in listed.splitlines()]
            assert [(r["seq"], r["consumer"], r["error_type"]) for r in rows] == [
                (letters[0].seq, "reporting-test", "ValueError")]

            buggy.poison.clear()  # the fix is deployed
            too_soon = await replay(nats, [letters[0].seq], subject_root)
            assert [r.outcome for r in too_soon] == ["too_soon"]  # kept, to be replayed later
            assert len(await list_dead_letters(nats, subject_root)) == 1
            await asyncio.sleep(published_at + WINDOW + 0.2 - time.monotonic())  # past the window
            out = await asyncio.to_thread(cli, env, "dead-letters", "replay", "--all", "--consumer", "reporting-test")
            assert "1 replayed, 0 not" in out
            await eventually(lambda: first.counts.get("applied", 0) == 4 and second.counts.get("duplicate", 0) == 1,
                             what="the fixed consumer applies it, the other skips it")
            # replaying it again: nothing left to replay
            again = await replay(nats, [letters[0].seq], subject_root)
            assert [r.outcome for r in again] == ["missing"]
        assert sorted(await Projection.campaigns(store)) == [f"campaign-{i}" for i in range(4)]
        assert sorted(await Projection.campaigns(other)) == [f"campaign-{i}" for i in range(4)]
        assert (await nats.js.stream_info(dead_letter_stream(subject_root))).state.messages == 0
    structlog.configure(**logging_config)
