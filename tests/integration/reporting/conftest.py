"""Fixtures shared by reporting's integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, tmp_path):
    from tests.infra.postgres import fresh_database

    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'reporting.db'}"
        return
    async with fresh_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url
