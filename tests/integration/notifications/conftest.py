from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.integration.notifications.notif_harness import SmtpServer, make_harness

START = datetime(2025, 4, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
async def harness(sqlite_url, smtp):
    h = await make_harness(sqlite_url, smtp, START)
    yield h
    await h.store.close()


@pytest.fixture
async def pg_harness(postgres_url, smtp):
    h = await make_harness(postgres_url, smtp, START)
    yield h
    await h.store.close()
