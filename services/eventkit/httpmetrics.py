"""Request count and latency per route template and status, for ``/metrics`` (and the Grafana
dashboard of ``deploy/grafana``). The route *template* (``/partnerships/{partnership_id}``) is the
label, never the raw path, so a scan of random URLs cannot grow the series without bound."""

from __future__ import annotations

import time
from typing import Any

from . import metrics

REQUESTS = metrics.counter("jumelage_http_requests_total", "HTTP requests answered, by route template and status",
                           ["method", "route", "status"])
LATENCY = metrics.histogram("jumelage_http_request_duration_seconds", "HTTP request duration by route template",
                            ["method", "route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
UNMATCHED = "unmatched"


class HttpMetricsMiddleware:
    """Pure ASGI (no per-request task or body buffering, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # an exception that escapes every handler is answered 500 by the server

        async def record_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope.get("method", "?")
            REQUESTS.labels(method, route, str(status[0])).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
