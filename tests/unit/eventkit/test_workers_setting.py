"""WORKERS: how many processes serve a service's port, and their share of its database pool."""

from __future__ import annotations

import math

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from eventkit.http import FastJSONResponse, use_fast_json, written
from eventkit.settings import ServiceSettings


def test_workers_default_to_one_and_read_the_service_variable_first():
    assert ServiceSettings.from_env("candidatures", {}).workers == 1
    env = {"WORKERS": "3", "REPORTING_WORKERS": "2"}
    assert ServiceSettings.from_env("reporting", env).workers == 2
    assert ServiceSettings.from_env("programmes", env).workers == 3


def test_zero_workers_is_refused():
    with pytest.raises(ValidationError, match="workers"):
        ServiceSettings.from_env("candidatures", {"WORKERS": "0"})


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_the_workers_share_the_service_pool_rather_than_multiply_it(workers):
    settings = ServiceSettings.from_env("candidatures", {"WORKERS": str(workers), "DATABASE_POOL_SIZE": "25",
                                                         "DATABASE_MAX_OVERFLOW": "3"})
    share = settings.worker_pool()
    assert share["pool_size"] == math.ceil(25 / workers)
    assert share["max_overflow"] == math.ceil(3 / workers)
    assert share["pool_size"] * workers < 25 + workers  # at most one more connection per worker


def test_the_default_pool_opens_nothing_beyond_itself():
    assert ServiceSettings.from_env("candidatures", {}).db_max_overflow == 0


def test_routes_and_writes_answer_through_orjson_with_the_same_json():
    app = FastAPI()
    use_fast_json(app)

    @app.get("/data")
    async def data() -> dict:
        return {"é": [1, 2.5, None, True], "nested": {"n": 1}}

    @app.post("/write")
    async def write():
        return written("x", "stream-x", 3, [], status=201)

    client = TestClient(app)
    response = client.get("/data")
    assert response.json() == {"é": [1, 2.5, None, True], "nested": {"n": 1}}
    assert response.headers["content-type"] == "application/json"
    answer = client.post("/write")
    assert (answer.status_code, answer.headers["etag"]) == (201, '"3"')
    assert answer.json() == {"id": "x", "stream_id": "stream-x", "version": 3, "events": []}
    assert isinstance(written("x", "s", 1, []), FastJSONResponse)
