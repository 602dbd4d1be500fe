"""The kit's HTTP edges: a request body limit answered 413 before parsing, and every error that no
handler maps answered as problem+json (500 with the correlation id and nothing internal, 503 with
``Retry-After`` when the database or the bus is unavailable)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from eventkit.http import PROBLEM, install_http_edges

LIMIT = 1024


class Thing(BaseModel):
    text: str


def make_app(*middleware) -> FastAPI:
    app = FastAPI()
    for cls in middleware:
        app.add_middleware(cls)
    parsed: list[int] = []

    @app.post("/things")
    async def post_thing(thing: Thing) -> dict[str, int]:
        parsed.append(len(thing.text))
        return {"length": len(thing.text)}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail: password=hunter2")

    @app.get("/db-down")
    async def db_down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    @app.get("/connection-reset")
    async def connection_reset() -> None:
        raise ConnectionResetError("peer reset")

    app.state.parsed = parsed
    install_http_edges(app, max_body_bytes=LIMIT)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_a_body_over_the_limit_is_refused_413_before_parsing() -> None:
    app = make_app()
    async with client(app) as c:
        response = await c.post("/things", json={"text": "x" * (LIMIT * 2)})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["limit"] == LIMIT
    assert app.state.parsed == []


async def test_a_streamed_body_over_the_limit_is_refused_413_without_a_content_length() -> None:
    app = make_app()

    async def chunks():
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}'

    async with client(app) as c:
        response = await c.post("/things", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert app.state.parsed == []


async def test_a_body_within_the_limit_is_parsed() -> None:
    app = make_app()
    async with client(app) as c:
        response = await c.post("/things", json={"text": "x" * 100})
    assert response.status_code == 200
    assert response.json() == {"length": 100}


async def test_an_unmapped_error_is_a_500_problem_with_the_correlation_id_and_nothing_internal() -> None:
    app = make_app()
    async with client(app) as c:
        response = await c.get("/boom", headers={"X-Correlation-Id": "5b0c4a36-8c1e-4a35-9d8c-2f0b6a1c9e11"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["correlation_id"] == "5b0c4a36-8c1e-4a35-9d8c-2f0b6a1c9e11"
    assert response.headers["x-correlation-id"] == "5b0c4a36-8c1e-4a35-9d8c-2f0b6a1c9e11"
    assert "hunter2" not in response.text and "RuntimeError" not in response.text


@pytest.mark.parametrize("path", ["/db-down", "/connection-reset"])
async def test_an_unavailable_database_is_a_503_problem_with_retry_after(path: str) -> None:
    app = make_app()
    async with client(app) as c:
        response = await c.get(path)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert int(response.headers["retry-after"]) >= 1
    assert "refused" not in response.text and "reset" not in response.text


async def test_an_error_raised_inside_a_middleware_is_a_problem_too() -> None:
    class Broken:
        def __init__(self, inner) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send) -> None:
            if scope["type"] == "http" and scope["path"] == "/things":
                raise ValueError("middleware bug")
            await self.inner(scope, receive, send)

    app = make_app(Broken)
    async with client(app) as c:
        response = await c.post("/things", json={"text": "a"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
