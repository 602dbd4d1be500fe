"""HTTP conventions shared by the services: problem+json errors, If-Match, correlation ids.

- Invalid input → 422 ``application/problem+json`` whose ``errors`` name each field
  (``body.classes.0.level``) and whose ``detail`` names the first one.
- :class:`~eventkit.store.ConcurrencyError` → 409 with the current version.
- :class:`~eventkit.store.EventTooLarge` → 413 naming the event's largest field (nothing stored).
- Domain errors (registered per service) → their status (422 by default) with the rule's name.
- A request body over the service's limit → 413 before anything parses it (:class:`BodyLimitMiddleware`).
- Any other exception → 500 with the correlation id and nothing internal (logged with its traceback);
  the database or the bus unavailable → 503 with ``Retry-After`` (:class:`ProblemGuardMiddleware`).
- Every request gets a correlation id (``X-Correlation-Id`` in, or a new one), bound in the logs.
- Every write answers the same shape (:func:`written`): the resource id, its stream, the stream's
  new version (also as ``ETag``) and the events appended, each with its id, type, stream and
  version (``[]`` when the command changed nothing).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable, Sequence

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from jumelage_contracts import Envelope, Role

from .settings import DEFAULT_MAX_BODY_BYTES
from .logging import bind_contextvars, clear_contextvars, get_logger
from .store import ConcurrencyError, EventTooLarge

PROBLEM = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-Id"
RETRY_AFTER_SECONDS = 2
# Pagination: far past any list the services hold, far below what a database integer holds.
MAX_OFFSET = 1_000_000
log = get_logger("eventkit.http")


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson (several times faster than the standard library on the services'
    answers): every write's answer and, as the app's default response class, every route that
    returns data. Same bytes as ``JSONResponse`` for JSON data (compact, UTF-8), except that a
    NaN or infinity becomes ``null`` instead of a 500. Problems keep ``JSONResponse``."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def use_fast_json(app: FastAPI) -> None:
    """Routes added to ``app`` from now on answer with :class:`FastJSONResponse` unless they name
    another class (call before including the routers)."""
    app.router.default_response_class = FastJSONResponse


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_path(loc: tuple | list) -> str:
    return ".".join(str(part) for part in loc)


def install_problem_handlers(app: FastAPI, domain_errors: dict[type[Exception], int] | None = None) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_path(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "message": "invalid input"}
        return problem(422, "Invalid input", f"{first['field']}: {first['message']}", errors=errors)

    @app.exception_handler(ConcurrencyError)
    async def _conflict(request: Request, exc: ConcurrencyError) -> JSONResponse:
        return problem(409, "Version conflict", str(exc), stream_id=exc.stream_id,
                       expected_version=exc.expected, current_version=exc.actual)

    @app.exception_handler(EventTooLarge)
    async def _too_large(request: Request, exc: EventTooLarge) -> JSONResponse:
        # nothing was stored: the bus could not carry the event, so the command is refused
        errors = [{"field": exc.field or "", "message": str(exc), "type": "event_too_large"}]
        return problem(413, "Content too large", str(exc), field=exc.field, event_type=exc.event_type,
                       size=exc.size, limit=exc.limit, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, _title(exc.status_code), str(exc.detail))
        for key, value in (getattr(exc, "headers", None) or {}).items():
            response.headers[key] = value
        return response

    for error_type, status in (domain_errors or {}).items():
        app.add_exception_handler(error_type, _domain_handler(status))


def _domain_handler(status: int):
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        extra: dict[str, Any] = {"rule": getattr(exc, "rule", type(exc).__name__)}
        field = getattr(exc, "field", None)
        if field:
            extra["field"] = field
            extra["errors"] = [{"field": field, "message": str(exc), "type": extra["rule"]}]
        return problem(getattr(exc, "status", status), _title(getattr(exc, "status", status)), str(exc), **extra)

    return handle


def _title(status: int) -> str:
    return {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
            409: "Conflict", 410: "Gone", 412: "Precondition failed", 413: "Content too large",
            422: "Unprocessable entity"}.get(status, "Error")


def offset_query(description: str = "How many items to skip") -> Any:
    """The one pagination offset: 0..MAX_OFFSET, 422 naming ``query.offset`` outside."""
    return Query(0, ge=0, le=MAX_OFFSET, description=description)


def expected_version(request: Request, body_version: int | None = None) -> int | None:
    """The version a write was decided on: ``If-Match: "3"`` (or ``W/"3"``) or the body's field."""
    header = request.headers.get("if-match")
    if header and header.strip() != "*":
        raw = header.strip().removeprefix("W/").strip('"')
        try:
            return int(raw)
        except ValueError:
            raise HTTPException(status_code=400, detail="If-Match must be a stream version such as \"3\"")
    return body_version


def etag(version: int) -> str:
    return f'"{version}"'


def event_refs(events: Sequence[Envelope]) -> list[dict[str, Any]]:
    """How a write names the events it appended."""
    return [{"id": str(e.id), "type": e.type, "stream_id": e.stream_id, "stream_version": e.stream_version}
            for e in events]


def written(resource_id: str, stream_id: str, version: int, events: Sequence[Envelope], status: int = 200,
            **extra: Any) -> JSONResponse:
    """The answer to every write (see the module doc); ``extra`` adds command-specific fields."""
    body = {"id": resource_id, "stream_id": stream_id, "version": version, "events": event_refs(events), **extra}
    return FastJSONResponse(body, status_code=status, headers={"ETag": etag(version)})


class CorrelationMiddleware:
    """Pure ASGI middleware (Starlette's ``@app.middleware("http")`` wraps every request in an
    extra task and body stream, a measurable cost on the command hot path)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = None
        for key, value in scope.get("headers", ()):
            if key == b"x-correlation-id":
                raw = value.decode("latin-1")
                break
        try:
            correlation = uuid.UUID(raw) if raw else uuid.uuid4()
        except ValueError:
            correlation = uuid.uuid4()
        scope.setdefault("state", {})["correlation_id"] = correlation
        clear_contextvars()
        bind_contextvars(correlation_id=str(correlation), path=scope.get("path", ""))
        header = (CORRELATION_HEADER.lower().encode(), str(correlation).encode())

        async def send_with_header(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_header)


def correlation_id(request: Request) -> uuid.UUID:
    return getattr(request.state, "correlation_id", None) or uuid.uuid4()


class ClockMove(BaseModel):
    now: AwareDatetime


def manual_clock_router(caller: Callable[..., Any]) -> APIRouter:
    """``POST /admin/clock`` for a service started with ``CLOCK=manual`` (demos, tests): an admin
    moves the runtime's clock; 403 for anyone else, 409 on the system clock. ``caller`` is the
    service's dependency that yields the authenticated :class:`~eventkit.auth.Principal`."""
    router = APIRouter()

    @router.post("/admin/clock", tags=["ops"], summary="Move the manual clock (CLOCK=manual only, admin token)")
    async def set_clock(body: ClockMove, request: Request, who: Any = Depends(caller)) -> dict[str, str]:
        if who.role is not Role.admin:
            raise HTTPException(status_code=403, detail="only an admin moves the clock")
        clock = request.app.state.runtime.clock
        if not hasattr(clock, "set"):
            raise HTTPException(status_code=409, detail="the service runs on the system clock (set CLOCK=manual)")
        clock.set(body.now)
        return {"now": clock.now().isoformat()}

    return router


async def _send_problem(send, status: int, title: str, detail: str, headers: dict[str, str] | None = None,
                        **extra: Any) -> None:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", PROBLEM.encode()), (b"content-length", str(len(raw)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]})
    await send({"type": "http.response.body", "body": raw})


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; an HTTPException so that
    FastAPI's body reader lets it through to the 413 handler instead of answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuses a request body over ``max_body_bytes`` with 413 problem+json before any parsing:
    on its ``Content-Length`` at once, and by counting as it streams when there is none (chunked)."""

    def __init__(self, app, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_problem(send, 400, "Bad request", "Content-Length is not a number")
                    return
                if declared > self.limit:
                    await self._refuse(send)
                    return
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        await _send_problem(send, 413, "Content too large",
                            f"the request body is larger than {self.limit} bytes", limit=self.limit)


def unavailable_dependency(exc: BaseException) -> str | None:
    """``"database"`` or ``"bus"`` when ``exc`` (or what caused it) says a dependency cannot be
    reached right now — worth a retry, so 503 — else ``None``."""
    import sqlalchemy.exc as sa_exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__ or ""
        if isinstance(current, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
            return "database"
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return "database"
        if module.startswith("asyncpg") and type(current).__name__ in _ASYNCPG_CONNECTION_ERRORS:
            return "database"
        if module.startswith("nats"):
            return "bus"
        if isinstance(current, (ConnectionError, TimeoutError)) or (
                isinstance(current, OSError) and not isinstance(current, FileNotFoundError)):
            return "database"
        current = current.__cause__ or current.__context__
    return None


_ASYNCPG_CONNECTION_ERRORS = {
    "ConnectionDoesNotExistError", "ConnectionFailureError", "CannotConnectNowError", "AdminShutdownError",
    "CrashShutdownError", "TooManyConnectionsError", "InterfaceError", "InternalClientError",
    "PostgresConnectionError", "ClientCannotConnectError", "ConnectionRejectionError",
}


class ProblemGuardMiddleware:
    """The one path for an exception no handler mapped, wherever it is raised (route, dependency or
    middleware): 503 + ``Retry-After`` when the database or the bus is unavailable, else 500; the
    body carries the correlation id and nothing internal; the traceback goes to the log."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the last answer before the server's text/plain
            correlation = scope.get("state", {}).get("correlation_id") or uuid.uuid4()
            dependency = unavailable_dependency(exc)
            log.error("request_failed", path=scope.get("path", ""), unavailable=dependency,
                      correlation_id=str(correlation), exc_info=exc)
            if started:
                raise
            headers = {CORRELATION_HEADER: str(correlation)}
            if dependency:
                headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                await _send_problem(send, 503, "Service unavailable",
                                    f"the {dependency} is unavailable, retry later", headers,
                                    correlation_id=str(correlation))
            else:
                await _send_problem(send, 500, "Internal server error",
                                    "the request failed; quote the correlation id to report it", headers,
                                    correlation_id=str(correlation))


def install_http_edges(app: FastAPI, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                       domain_errors: dict[type[Exception], int] | None = None) -> None:
    """Problem handlers, correlation ids, the body limit and the guard, in the one right order:
    guard outermost (so an error in any middleware is a problem too), then the correlation id
    (so the guard and every handler see it), then the body limit. Install after other middleware."""
    install_problem_handlers(app, domain_errors)
    install_openapi_problems(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(CorrelationMiddleware)
    app.add_middleware(ProblemGuardMiddleware)


# -- OpenAPI: the problems each route answers --------------------------------------------------

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; ``errors`` names each wrong field (``body.classes.0.level``).",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "field": {"type": ["string", "null"]}, "rule": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}}}},
    },
    "required": ["title", "status"],
    "additionalProperties": True,
}
_WHY = {
    400: "The body or a header (If-Match) cannot be read",
    401: "No valid bearer token",
    403: "The token's role or scope may not do this",
    404: "Not found",
    409: "Version conflict (If-Match or a concurrent write) or a state that forbids the command",
    413: "The request body is over the service's limit, or an event would be too large for the bus",
    422: "Invalid input: `errors` names each field",
    503: "The database, the bus or the identity provider is unavailable; retry after `Retry-After` seconds",
}
_WRITES = {"post", "put", "patch", "delete"}


def problem_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """What a kit route can answer besides success: 503 anywhere (its database may be down);
    401/403 where a token is needed; 404 on a path naming a resource and on commands; 400, 409
    and 422 on commands; 400, 413 and 422 where a body is read; 422 where parameters are."""
    statuses = {503}
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        statuses |= {401, 403}
    if method in _WRITES:
        statuses |= {400, 404, 409, 422}
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if parameters:
        statuses.add(422)
    return statuses


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the problem answers of :func:`problem_statuses` to every operation of an OpenAPI
    document, all pointing at one ``Problem`` schema (FastAPI's 422 ``HTTPValidationError``
    described JSON we never send)."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in sorted(problem_statuses(method, operation)):
                answer: dict[str, Any] = {"description": _WHY[status], "content": {PROBLEM: {"schema": ref}}}
                if status == 503:
                    answer["headers"] = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
                responses[str(status)] = answer
    return schema


def install_openapi_problems(app: FastAPI) -> None:
    """``app.openapi()`` documents the problems (:func:`document_problems`), once, when first asked."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
