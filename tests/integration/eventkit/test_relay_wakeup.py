"""A process whose relay is in standby wakes the lease holder's relay in another process through
PostgreSQL LISTEN/NOTIFY (eventkit.relaywake); coalesced, and back after a lost connection."""

from __future__ import annotations

import asyncpg
import pytest

from eventkit.relaywake import RelayWakeup, asyncpg_dsn, channel_for
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_notify_from_one_process_wakes_the_relay_listening_in_another(postgres_url):
    dsn = asyncpg_dsn(postgres_url)
    woken: list[str] = []
    holder = RelayWakeup(dsn, channel_for("candidatures"), on_wake=lambda: woken.append("holder"))
    other = RelayWakeup(dsn, channel_for("candidatures"), on_wake=lambda: woken.append("other"))
    elsewhere = RelayWakeup(dsn, channel_for("programmes"), on_wake=lambda: woken.append("programmes"))
    for wakeup in (holder, other, elsewhere):
        await wakeup.start()
    try:
        await eventually(lambda: all(w._conn is not None for w in (holder, other, elsewhere)), what="listening")
        other.notify()
        await eventually(lambda: "holder" in woken, what="the holder woken")
        assert "programmes" not in woken  # one channel per service's store

        for _ in range(50):  # a burst of appends: a few NOTIFYs, never fewer than one after the last
            other.notify()
        await eventually(lambda: not other._sending, what="the burst sent")
        assert 1 <= other.sent <= 51
        sent_before = holder.received
        other.notify()
        await eventually(lambda: holder.received > sent_before, what="a wake-up after the burst")
    finally:
        for wakeup in (holder, other, elsewhere):
            await wakeup.stop()


async def test_the_listener_comes_back_after_its_connection_is_ended(postgres_url):
    dsn = asyncpg_dsn(postgres_url)
    woken: list[int] = []
    holder = RelayWakeup(dsn, channel_for("reporting"), on_wake=lambda: woken.append(1), retry_seconds=0.1)
    await holder.start()
    admin = await asyncpg.connect(dsn)
    try:
        await eventually(lambda: holder._conn is not None, what="listening")
        first = holder._conn
        await admin.execute("SELECT pg_terminate_backend($1)", first.get_server_pid())
        await eventually(lambda: holder._conn is not None and holder._conn is not first, what="listening again")
        await admin.execute("SELECT pg_notify($1, '')", channel_for("reporting"))
        await eventually(lambda: woken, what="woken on the new connection")
    finally:
        await admin.close()
        await holder.stop()


def test_only_postgresql_has_the_channel():
    assert asyncpg_dsn("sqlite+aiosqlite:///var/x.db") is None
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
