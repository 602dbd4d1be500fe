"""Each service's OpenAPI lists the problems its routes answer, with the problem+json schema, and
declares the bearer scheme on the routes that need a token — so generated clients can handle them."""

from __future__ import annotations

import pytest

from eventkit.settings import ServiceSettings

PROBLEM = "application/problem+json"
WRITES = {"post", "put", "patch", "delete"}
METHODS = WRITES | {"get", "head"}


def build(service: str, tmp_path):
    settings = ServiceSettings(service=service, database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    if service == "candidatures":
        from candidatures.bootstrap import build_app
    elif service == "programmes":
        from programmes.bootstrap import build_app
    elif service == "reporting":
        from reporting.bootstrap import build_app
    else:
        from notifications.bootstrap import build

        return build(settings)[0]
    return build_app(settings)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def problem_statuses(operation: dict) -> set[int]:
    return {int(status) for status, answer in operation["responses"].items()
            if status.isdigit() and PROBLEM in answer.get("content", {})}


@pytest.mark.parametrize("service", ["candidatures", "programmes", "notifications", "reporting"])
def test_every_route_documents_its_problems(service: str, tmp_path) -> None:
    schema = build(service, tmp_path).openapi()
    scheme = schema["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "Problem" in schema["components"]["schemas"]
    secured = 0
    for path, method, operation in operations(schema):
        label = f"{method.upper()} {path}"
        statuses = problem_statuses(operation)
        assert 503 in statuses, label
        assert "Retry-After" in operation["responses"]["503"]["headers"], label
        assert "application/json" not in operation["responses"].get("422", {}).get("content", {}), label
        if operation.get("security"):
            secured += 1
            assert {401, 403} <= statuses, label
        if method in WRITES:
            assert {404, 409, 422} <= statuses, label
        if "requestBody" in operation:
            assert {400, 413, 422} <= statuses, label
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert 404 in statuses, label
    assert secured > 0


@pytest.mark.parametrize("service", ["candidatures", "programmes", "notifications", "reporting"])
def test_routes_that_need_a_token_are_marked_with_the_bearer_scheme(service: str, tmp_path) -> None:
    schema = build(service, tmp_path).openapi()
    open_paths = {"/healthz", "/readyz", "/metrics", "/lag", "/ical/{token}.ics", "/feeds/{kind}/{key}"}
    for path, method, operation in operations(schema):
        if path in open_paths or path.startswith(("/docs", "/redoc")):
            continue
        assert operation.get("security") == [{"bearer": []}], f"{method.upper()} {path}"
