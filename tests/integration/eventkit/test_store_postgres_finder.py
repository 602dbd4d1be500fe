"""The test-infrastructure finder for PostgreSQL: CI uses the env URL, so the other ways are
exercised here on purpose (the local binaries must really start a server on this machine)."""

from __future__ import annotations

import asyncpg
import pytest

from eventkit.sql import open_store
from tests.infra import postgres as infra

from tests.integration.eventkit.store_support import an_event

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_server():
    url, cleanup = infra.start_local_postgres()
    yield url
    cleanup()


async def test_the_local_binaries_start_a_private_server_that_answers_queries(local_server):
    conn = await asyncpg.connect(local_server + "/postgres")
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
    finally:
        await conn.close()


async def test_a_fresh_database_on_the_local_server_holds_a_store_and_is_dropped_after(local_server):
    async with infra.fresh_database(local_server) as url:
        name = url.rsplit("/", 1)[1]
        assert url.startswith("postgresql+asyncpg://") and name.startswith("jumelage_t_")
        store = await open_store(url)
        try:
            await store.append("campaign-1", [an_event()])
            assert len(await store.read_all()) == 1
        finally:
            await store.close()

    conn = await asyncpg.connect(local_server + "/postgres")
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0
    finally:
        await conn.close()


def test_the_local_server_stops_on_cleanup():
    url, cleanup = infra.start_local_postgres()
    assert infra._probe(url) is None
    cleanup()
    assert infra._probe(url, timeout=1) is not None


def test_an_env_url_that_does_not_answer_fails_loudly_instead_of_skipping(monkeypatch):
    monkeypatch.setenv(infra.ENV_URL, f"postgresql://postgres@127.0.0.1:{infra._free_port()}")

    with pytest.raises(infra.NoPostgresFound, match="does not answer"):
        infra.find_postgres()


def test_without_env_url_or_docker_the_finder_falls_back_to_the_local_binaries(monkeypatch):
    monkeypatch.delenv(infra.ENV_URL, raising=False)
    monkeypatch.setattr(infra, "_docker_problem", lambda: "no Docker engine answers (test)")

    url, cleanup = infra.find_postgres()
    try:
        assert infra._probe(url) is None
    finally:
        cleanup()


def test_when_nothing_works_the_error_lists_every_way_tried(monkeypatch):
    monkeypatch.delenv(infra.ENV_URL, raising=False)
    monkeypatch.setattr(infra, "_docker_problem", lambda: "no Docker engine answers (test)")

    def no_binaries():
        raise infra.NoPostgresFound("no initdb/pg_ctl (test)")

    monkeypatch.setattr(infra, "postgres_bin_dir", no_binaries)

    with pytest.raises(infra.NoPostgresFound) as caught:
        infra.find_postgres()
    message = str(caught.value)
    assert infra.ENV_URL in message and "Docker" in message and "initdb" in message
