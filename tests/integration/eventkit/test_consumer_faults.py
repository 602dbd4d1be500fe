"""What must never stop a consumer — real NATS JetStream and PostgreSQL: a message too large to be
copied whole into a dead letter, a message carrying ``Nats-Expected-*`` headers, the database
dropping the consumer's connection, a connection the NATS server closed."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from eventkit.bus import DeadLetterHeader, StreamLimits, list_dead_letters, replay
from jumelage_contracts import Header
from jumelage_contracts.subjects import dead_letter_stream, event_subject, stream_name
from tests.integration.eventkit.bus_support import (
    Projection,
    campaign_event,
    connected,
    eventually,
    make_consumer,
    open_store,
    publish_envelopes,
    running,
    stream_messages,
)

pytestmark = pytest.mark.integration

NEAR_MAX_PAYLOAD = 1_048_000  # under NATS's 1 MiB max_payload with a few headers, over it with a dead letter's


async def test_an_undecodable_message_near_max_payload_is_dead_lettered_truncated_and_the_consumer_stays_connected(
        request, nats_url, subject_root):
    good = campaign_event(1)
    body = bytes(range(256)) * (NEAR_MAX_PAYLOAD // 256) + b"x" * (NEAR_MAX_PAYLOAD % 256)
    async with open_store("postgres", request) as store, \
            connected(nats_url, subject_root, limits=StreamLimits(duplicate_window=0.5)) as nats:
        big_id = str(uuid.uuid4())
        await nats.js.publish(event_subject(good, subject_root), body, headers={Header.MSG_ID: big_id})
        await publish_envelopes(nats, subject_root, [good])
        client = nats.nc
        projection = Projection()
        consumer = make_consumer(store, nats, subject_root, projection)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 1, timeout=15,
                             what="the good event after the big one applied")
        assert nats.nc is client and nats.connected and nats.reopened == 0, "the server closed the connection"
        assert consumer.counts["dead_lettered"] == 1

        [dead] = await stream_messages(nats, dead_letter_stream(subject_root))
        assert dead.headers[DeadLetterHeader.TRUNCATED] == "true"
        assert dead.headers[DeadLetterHeader.ORIGINAL_SIZE] == str(NEAR_MAX_PAYLOAD)
        assert dead.headers[DeadLetterHeader.ORIGINAL_SHA256] == hashlib.sha256(body).hexdigest()
        assert dead.headers[DeadLetterHeader.ORIGINAL_STREAM] == stream_name("candidatures", subject_root)
        assert dead.headers[DeadLetterHeader.STREAM_SEQUENCE] == "1"
        assert dead.headers[DeadLetterHeader.ORIGINAL_MSG_ID] == big_id
        assert dead.data == body[:1024]

        # replaying a truncated dead letter sends the original, whole, from its stream
        [letter] = await list_dead_letters(nats, subject_root)
        assert letter.truncated and letter.original_size == NEAR_MAX_PAYLOAD
        await asyncio.sleep(0.6)  # past the duplicate window
        [result] = await replay(nats, [letter.seq], subject_root)
        assert result.outcome == "replayed"
        info = await nats.js.stream_info(stream_name("candidatures", subject_root))
        again = await nats.js.get_msg(stream_name("candidatures", subject_root), seq=info.state.last_seq)
        assert again.data == body and again.headers[Header.MSG_ID] == big_id


async def test_a_message_with_nats_expected_headers_is_dead_lettered_once_and_the_next_one_applied(
        request, nats_url, subject_root):
    good = campaign_event(1)
    async with open_store("postgres", request) as store, connected(nats_url, subject_root) as nats:
        stream = stream_name("candidatures", subject_root)
        await nats.js.publish(event_subject(good, subject_root), b"{not an event",
                              headers={Header.MSG_ID: str(uuid.uuid4()), "Nats-Expected-Stream": stream,
                                       "Nats-Expected-Last-Sequence": "0"})
        await publish_envelopes(nats, subject_root, [good])
        consumer = make_consumer(store, nats, subject_root, Projection())
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 1, timeout=15,
                             what="the good event applied after the dead letter")
            await asyncio.sleep(0.3)  # a dead letter done twice would show now
        assert consumer.counts["dead_lettered"] == 1
        [dead] = await stream_messages(nats, dead_letter_stream(subject_root))
        assert not any(k.startswith("Nats-Expected") for k in dead.headers)
        assert dead.data == b"{not an event"


async def terminate_while_busy(store, pid: int) -> None:
    """What an administrator (or a failover) does: end the session while it runs a statement."""
    busy = text("select count(*) from pg_stat_activity where pid = :pid and state = 'active'")
    async with store.reader.connect() as other:
        await eventually(lambda: _scalar(other, busy, pid), timeout=10, interval=0.01, what="the statement running")
        await other.scalar(text("select pg_terminate_backend(:pid)"), {"pid": pid})


async def _scalar(conn, statement, pid: int) -> bool:
    return bool(await conn.scalar(statement, {"pid": pid}))


async def test_the_database_dropping_the_connection_five_times_on_one_message_delays_it_and_never_dead_letters_it(
        request, nats_url, subject_root):
    events = [campaign_event(i) for i in range(4)]
    terminations = {"left": 5}
    projection = Projection()

    async def handler(tx, envelope, event) -> None:
        if event.campaign_id == "campaign-1" and terminations["left"] > 0:
            terminations["left"] -= 1
            pid = await tx.connection.scalar(text("select pg_backend_pid()"))
            killer = asyncio.create_task(terminate_while_busy(store, pid))
            try:  # the session ends in the middle of a statement
                await tx.connection.scalar(text("select pg_sleep(30)"))
            finally:
                await killer
        if event.campaign_id == "campaign-2":  # a real bug: the same row twice
            row = {"c": "bug", "e": envelope.id}
            await tx.connection.execute(text("insert into inbox (consumer, event_id) values (:c, :e)"), row)
            await tx.connection.execute(text("insert into inbox (consumer, event_id) values (:c, :e)"), row)
        await projection(tx, envelope, event)

    async with open_store("postgres", request) as store, connected(nats_url, subject_root) as nats:
        await publish_envelopes(nats, subject_root, events)
        consumer = make_consumer(store, nats, subject_root, handler, max_attempts=3, backoff_max=0.05)
        async with running(consumer):
            await eventually(lambda: consumer.counts.get("applied", 0) == 3 and consumer.counts.get("dead_lettered"),
                             timeout=20, what="three applied, the buggy one dead-lettered")
        assert terminations["left"] == 0
        assert consumer.counts["dead_lettered"] == 1
        [dead] = await stream_messages(nats, dead_letter_stream(subject_root))
        assert dead.headers[DeadLetterHeader.ERROR_TYPE] == IntegrityError.__name__
        assert dead.headers[DeadLetterHeader.STREAM_SEQUENCE] == "3"
        assert await Projection.campaigns(store) == ["campaign-0", "campaign-1", "campaign-3"]


async def test_a_connection_the_nats_server_closed_is_opened_again_and_the_consumer_goes_on(
        request, nats_url, subject_root):
    async with open_store("postgres", request) as store, connected(nats_url, subject_root) as nats:
        nats._reopen_initial = nats._reopen_delay = 0.1
        consumer = make_consumer(store, nats, subject_root, Projection())
        async with running(consumer):
            await publish_envelopes(nats, subject_root, [campaign_event(0)])
            await eventually(lambda: consumer.counts.get("applied", 0) == 1, what="first applied")
            closed = nats.nc
            # headers and body pass max_payload together: nats-py checks the body only, the
            # server answers -ERR and closes the connection
            await closed.publish(f"{subject_root}.nowhere", b"x" * (closed.max_payload - 100),
                                 headers={"Padding": "y" * 500})
            await eventually(lambda: nats.reopened == 1 and nats.connected and nats.nc is not closed,
                             timeout=15, what="a new client connected")
            await publish_envelopes(nats, subject_root, [campaign_event(1)])
            await eventually(lambda: consumer.counts.get("applied", 0) == 2, timeout=15,
                             what="the event published after the close applied")
        assert closed.is_closed
        assert await Projection.campaigns(store) == ["campaign-0", "campaign-1"]


async def test_listing_dead_letters_shows_malformed_entries_instead_of_failing(request, nats_url, subject_root):
    from typer.testing import CliRunner

    import structlog

    from eventkit.cli import app

    logging_config = structlog.get_config()
    async with connected(nats_url, subject_root) as nats:
        subject = f"{subject_root}.deadletter.reporting-test"
        await nats.js.publish(subject, b"no headers at all")
        await nats.js.publish(subject, b"\xff\xfe", headers={DeadLetterHeader.STREAM_SEQUENCE: "not-a-number",
                                                             DeadLetterHeader.ATTEMPTS: "many"})
        await nats.js.publish(subject, b"{}", headers={
            DeadLetterHeader.CONSUMER: "reporting-test", DeadLetterHeader.ERROR_TYPE: "ValueError",
            DeadLetterHeader.ERROR: "bad", DeadLetterHeader.ORIGINAL_SUBJECT: f"{subject_root}.candidatures.x.Y",
            DeadLetterHeader.ORIGINAL_STREAM: "S", DeadLetterHeader.STREAM_SEQUENCE: "7",
            DeadLetterHeader.ATTEMPTS: "3"})
        letters = await list_dead_letters(nats, subject_root)
        assert [bool(d.malformed) for d in letters] == [True, True, False]
        assert letters[2].original_seq == 7

        env = {"NATS_URL": nats_url, "NATS_SUBJECT_ROOT": subject_root}
        for args in (["dead-letters", "list"], ["dead-letters", "list", "--json"]):
            result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
            assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
            assert result.output.count("malformed") >= 2, result.output
        results = await replay(nats, [letters[0].seq], subject_root)
        assert [r.outcome for r in results] == ["malformed"]
    structlog.configure(**logging_config)
