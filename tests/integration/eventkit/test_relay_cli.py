"""The ``jumelage`` operator commands against a real NATS and a real SQLite store.

Sync tests on purpose: the CLI runs its own event loop (``asyncio.run``), as it does from a shell.
"""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from eventkit.bus import NatsConnection
from eventkit.cli import app
from eventkit.sql import open_store
from jumelage_contracts import Header
from jumelage_contracts.subjects import SOURCES, dead_letter_stream, stream_name
from tests.integration.eventkit.bus_support import campaign_event, stream_messages

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(tmp_path, nats_url, subject_root):
    import structlog

    logging_config = structlog.get_config()  # the CLI quiets the logs: give them back afterwards
    env = {
        "JUMELAGE_DATA_DIR": str(tmp_path),
        "CANDIDATURES_DATABASE_URL": f"sqlite:///{tmp_path / 'candidatures.db'}",
        "REPORTING_DATABASE_URL": f"sqlite:///{tmp_path / 'reporting.db'}",
        "NATS_URL": nats_url,
        "NATS_SUBJECT_ROOT": subject_root,
    }
    yield env
    structlog.configure(**logging_config)
    asyncio.run(_delete_streams(nats_url, subject_root))


async def _delete_streams(url: str, root: str) -> None:
    nats = NatsConnection(url, name="cleanup")
    await nats.start()
    for name in [*(stream_name(s, root) for s in SOURCES), dead_letter_stream(root)]:
        try:
            await nats.js.delete_stream(name)
        except Exception:  # noqa: BLE001 - not every test makes every stream
            pass
    await nats.close()


def invoke(env, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


async def _preload(url: str, count: int) -> list:
    store = await open_store(url)
    try:
        return [(await store.append(f"campaign-{i}", [campaign_event(i)])).events[0] for i in range(count)]
    finally:
        await store.close()


async def _stream_ids(url: str, root: str) -> list[str]:
    nats = NatsConnection(url, name="check")
    await nats.start()
    try:
        return [m.headers[Header.MSG_ID] for m in await stream_messages(nats, stream_name("candidatures", root))]
    finally:
        await nats.close()


def test_republish_sends_a_range_of_stored_events_and_jetstream_keeps_each_once(cli_env, nats_url, subject_root):
    events = asyncio.run(_preload(cli_env["CANDIDATURES_DATABASE_URL"], 6))
    invoke(cli_env, "provision", "--streams-only")

    out = invoke(cli_env, "republish", "--service", "candidatures", "--from-position", "3", "--to-position", "5")
    assert "republished 3 event(s)" in out
    assert asyncio.run(_stream_ids(nats_url, subject_root)) == [str(e.id) for e in events[2:5]]

    # everything again (0: from the start): the three already there are dropped by the duplicate window
    assert "republished 6 event(s)" in invoke(cli_env, "republish", "--service", "candidatures", "--from-position", "0")
    ids = asyncio.run(_stream_ids(nats_url, subject_root))
    assert sorted(ids) == sorted(str(e.id) for e in events) and len(ids) == 6


def test_provision_is_idempotent_and_creates_the_consumers_a_service_declares(cli_env, nats_url, subject_root):
    first = invoke(cli_env, "provision", "--service", "reporting")
    second = invoke(cli_env, "provision", "--service", "reporting")
    assert first == second
    assert "dead-letter stream" in first
    assert "consumer reporting-candidatures on candidatures" in first


def test_migrate_brings_a_service_database_to_head_twice_without_harm(cli_env):
    assert "reporting: migrated" in invoke(cli_env, "migrate", "--service", "reporting")
    assert "reporting: migrated" in invoke(cli_env, "migrate", "--service", "reporting")


async def _set_relay_checkpoint(url: str, position: int) -> None:
    store = await open_store(url)
    try:
        await store.set_checkpoint("relay:candidatures", position)
    finally:
        await store.close()


def test_outbox_inspect_shows_the_first_event_the_relay_has_not_published(cli_env):
    import json

    from tests.infra.processes import free_port

    events = asyncio.run(_preload(cli_env["CANDIDATURES_DATABASE_URL"], 5))
    asyncio.run(_set_relay_checkpoint(cli_env["CANDIDATURES_DATABASE_URL"], events[1].position))
    nobody = f"http://127.0.0.1:{free_port()}"  # the service is not running: the store still answers

    found = json.loads(invoke(cli_env, "outbox", "inspect", "--service", "candidatures", "--url", nobody,
                              "--json", "--timeout", "1").strip().splitlines()[-1])

    assert (found["backlog"], found["checkpoint"], found["relay"]) == (3, events[1].position, "unknown")
    head = events[2]
    assert found["event"]["id"] == str(head.id) and found["event"]["position"] == head.position
    assert (found["event"]["type"], found["event"]["stream_id"]) == (head.type, head.stream_id)
    assert found["event"]["size"] > len(head.to_nats()[1]) and found["event"]["error"] is None

    text = invoke(cli_env, "outbox", "inspect", "--service", "candidatures", "--url", nobody, "--timeout", "1")
    assert "3 event(s) not yet on the bus" in text and str(head.id) in text


def test_outbox_inspect_says_when_everything_is_published(cli_env):
    events = asyncio.run(_preload(cli_env["CANDIDATURES_DATABASE_URL"], 2))
    asyncio.run(_set_relay_checkpoint(cli_env["CANDIDATURES_DATABASE_URL"], events[-1].position))

    text = invoke(cli_env, "outbox", "inspect", "--service", "candidatures", "--url", "http://127.0.0.1:9",
                  "--timeout", "1")

    assert "0 event(s) not yet on the bus" in text and "first waiting event" not in text
