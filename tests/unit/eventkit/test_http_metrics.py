"""Every answer is counted under its route template and status, with its duration."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException

from eventkit import metrics
from eventkit.httpmetrics import HttpMetricsMiddleware


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_requests_are_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    app.add_middleware(HttpMetricsMiddleware)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404)
        return {"id": thing_id}

    route = "/things/{thing_id}"
    ok_before = sample("jumelage_http_requests_total", method="GET", route=route, status="200")
    missing_before = sample("jumelage_http_requests_total", method="GET", route=route, status="404")
    timed_before = sample("jumelage_http_request_duration_seconds_count", method="GET", route=route)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for thing_id in ("a", "b", "missing"):
            await client.get(f"/things/{thing_id}")
        await client.get("/nowhere/at/all")
    assert sample("jumelage_http_requests_total", method="GET", route=route, status="200") == ok_before + 2
    assert sample("jumelage_http_requests_total", method="GET", route=route, status="404") == missing_before + 1
    assert sample("jumelage_http_request_duration_seconds_count", method="GET", route=route) == timed_before + 3
    # an unknown path is one series, not one per URL tried
    assert sample("jumelage_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert sample("jumelage_http_requests_total", method="GET", route="/nowhere/at/all", status="404") == 0
