"""ServiceRuntime: what every service process runs beside its HTTP routes.

It owns the database engine and event store (migrated at start, never created by hand), the NATS
connection (the service stays up and keeps accepting commands while NATS is down: the outbox
grows and drains later), the outbox relay, the durable consumers, and the ops endpoints
(``/healthz``, ``/readyz``, ``/metrics``).

``/readyz`` answers 200 while the service can take commands, that is while its database answers;
NATS and the relay are reported beside it (``"nats": "down"``, ``"relay": "degraded"`` with the
blocking event) but never take the service out of rotation: the outbox exists so that commands
go on while the bus is away.

Usage in a service's ``bootstrap.py``::

    runtime = ServiceRuntime(settings, clock=clock, migrations=[MIGRATIONS_DIR])
    runtime.add_consumer("programmes-from-candidatures", source="candidatures",
                         handler=on_candidatures_event, types=["PartnershipAttributed"])
    app = FastAPI(lifespan=runtime.lifespan)
    runtime.install(app)
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from jumelage_contracts import Envelope, EventData

from .auth import InsecureSigningSecret, TokenVerifier, check_signing_secret
from .clock import Clock, ManualClock, SystemClock
from .http import install_http_edges, use_fast_json
from .logging import configure_logging, get_logger
from .settings import ServiceSettings
from .store import AppendResult, EventStore, Transaction

Handler = Callable[[Transaction, Envelope, EventData], Awaitable[None]]
# All the new events of one fetched batch, in stream order, inside the batch's transaction.
BatchHandler = Callable[[Transaction, Sequence[tuple[Envelope, EventData]]], Awaitable[None]]


@dataclass
class ConsumerSpec:
    name: str
    source: str
    handler: Handler
    types: list[str] | None = None  # None: every event of the source
    # Optional: applies a whole batch at once (e.g. a projection writing it in a few statements
    # instead of a few per event). ``handler`` stays required: a batch that fails is handled one
    # message per transaction with it (retries, dead letters), and both must have the same effect.
    batch_handler: BatchHandler | None = None
    # Optional: called after each commit that applied something (beside waking the relay), e.g.
    # to drop in-memory states an erasure made stale once it is durable.
    after_commit: Callable[[], Any] | None = None


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    clock: Clock | None = None
    migrations: Sequence[Path] = ()
    store: EventStore | None = None
    consumers: list[ConsumerSpec] = field(default_factory=list)
    domain_errors: dict[type[Exception], int] = field(default_factory=dict)
    verifier: TokenVerifier | None = None  # bearer tokens → Principal; from the settings by default

    def __post_init__(self) -> None:
        if self.verifier is None:
            self.verifier = TokenVerifier.from_settings(self.settings)
        if self.clock is None:
            self.clock = ManualClock() if self.settings.clock == "manual" else SystemClock()
        self.log = get_logger(self.settings.service)
        self.engine: Any = None
        self.nats: Any = None
        self._relay: Any = None
        self._tasks: list[asyncio.Task] = []
        self._consumer_runners: list[Any] = []
        self._wakeup: Any = None
        self.keyring: Any = None

    # -- wiring --------------------------------------------------------------------------------

    def add_consumer(self, name: str, source: str, handler: Handler, types: list[str] | None = None,
                     batch_handler: BatchHandler | None = None, after_commit: Callable[[], Any] | None = None) -> None:
        self.consumers.append(ConsumerSpec(name=name, source=source, handler=handler, types=types,
                                           batch_handler=batch_handler, after_commit=after_commit))

    async def append(self, stream_id: str, events: Sequence[Envelope], expected_version: int | None = None) -> AppendResult:
        """Append through the store and wake the relay so the events leave at once."""
        assert self.store is not None, "runtime not started"
        result = await self.store.append(stream_id, events, expected_version)
        self.wake_relay()
        return result

    async def append_with_rows(self, appends: Sequence[tuple[str, Sequence[Envelope], int | None]],
                               rows: Any) -> list[AppendResult]:
        """Read rows and the events of one or more streams in one server-side statement
        (``store.append_with_rows``; raises :class:`~eventkit.store.NeedsTransaction` where that
        cannot be), then wake the relay."""
        assert self.store is not None, "runtime not started"
        results = await self.store.append_with_rows(appends, rows)
        self.wake_relay()
        return results

    @asynccontextmanager
    async def transaction(self):
        assert self.store is not None, "runtime not started"
        async with self.store.transaction() as tx:
            yield tx
        self.wake_relay()

    def _after_commit_of(self, spec: ConsumerSpec) -> Callable[[], None]:
        if spec.after_commit is None:
            return self.wake_relay
        after = spec.after_commit

        def both() -> None:
            self.wake_relay()
            after()

        return both

    def wake_relay(self) -> None:
        """Publish what was just committed now: this process's relay when it holds the lease,
        otherwise the holder in another process (:mod:`eventkit.relaywake`)."""
        relay = self._relay
        if relay is not None:
            relay.wake()
        if self._wakeup is not None and (relay is None or not relay.is_leader):
            self._wakeup.notify()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        from . import bus, shredding, sql

        configure_logging(self.settings.service, self.settings.log_level, self.settings.log_json)
        if self.store is None:
            pool = self.settings.worker_pool() if self.settings.database_url.startswith("postgresql") else {}
            self.store = await sql.open_store(self.settings.database_url, extra_migrations=list(self.migrations), **pool)
        if hasattr(self.store, "max_event_bytes"):
            self.store.max_event_bytes = self.settings.event_max_bytes or None
        self.engine = getattr(self.store, "engine", None)
        self.nats = bus.NatsConnection(self.settings.nats_url, name=self.settings.service)
        # personal values sealed at the store's boundary, keys fetched from their owners (RGPD)
        if not isinstance(self.store, shredding.SealingStore):
            self.store = shredding.SealingStore(self.store, shredding.Keyring(self.settings.service))
        self.keyring = self.store.keyring
        self.keyring.fetch = shredding.nats_key_fetcher(self.nats, self.settings.subject_root)
        await shredding.KeyService(self.store, self.keyring, self.nats, self.settings.subject_root).start()
        await self.nats.start()
        await bus.provision(self.nats, self.settings.subject_root)
        if self.settings.relay_enabled:
            self._relay = bus.OutboxRelay(self.store, self.nats, source=self.settings.service,
                                          subject_root=self.settings.subject_root,
                                          lease_ttl=self.settings.lease_ttl_seconds)
            self._tasks.append(asyncio.create_task(self._relay.run(), name="relay"))
        await self._start_wakeup()
        for spec in self.consumers:
            runner = bus.Consumer(spec, self.store, self.nats, subject_root=self.settings.subject_root,
                                  service=self.settings.service, after_commit=self._after_commit_of(spec),
                                  keyring=self.keyring, lease_ttl=self.settings.lease_ttl_seconds)
            self._consumer_runners.append(runner)
            self._tasks.append(asyncio.create_task(runner.run(), name=f"consumer:{spec.name}"))
        self.log.info("service_started", port=self.settings.port, database=_redact(self.settings.database_url),
                      nats=self.settings.nats_url)

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
        if self._wakeup is not None:
            await self._wakeup.stop()
        # together: each lets its fetch in flight end (up to its fetch timeout) before returning
        await asyncio.gather(*(runner.stop() for runner in self._consumer_runners), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.nats is not None:
            await self.nats.close()
        if self.store is not None:
            await self.store.close()
        self.log.info("service_stopped")

    @asynccontextmanager
    async def lifespan(self, app: FastAPI):
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def _start_wakeup(self) -> None:
        """Other processes on this store (workers, replicas) wake this one's relay, and the other
        way round, when the store is PostgreSQL and the service's own store (not one a test passed)."""
        from .relaywake import RelayWakeup, asyncpg_dsn, channel_for

        url = getattr(getattr(self.store, "engine", None), "url", None)
        dsn = asyncpg_dsn(url.render_as_string(hide_password=False)) if url is not None else None
        if dsn is None:
            return
        relay = self._relay
        self._wakeup = RelayWakeup(dsn, channel_for(self.settings.service),
                                   on_wake=relay.wake if relay is not None else (lambda: None))
        await self._wakeup.start()

    # -- ops endpoints -------------------------------------------------------------------------

    async def readiness(self) -> dict[str, Any]:
        """The database (decides readiness), NATS and the relay (reported); refreshes their gauges."""
        from . import metrics

        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(self.store.last_position(), 5)  # type: ignore[union-attr]
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["database"] = f"error: {exc!r}"
        connected = self.nats is not None and self.nats.connected
        metrics.NATS_CONNECTED.labels(self.settings.service).set(1 if connected else 0)
        checks["nats"] = "ok" if connected else "down"
        checks["process"] = os.getpid()  # which worker answered (WORKERS > 1: one port, several processes)
        if self._consumer_runners:
            # active: this process holds the durable's lease and fetches; standby: another one does
            checks["consumers"] = {runner.name: "active" if runner.lease.held else "standby"
                                   for runner in self._consumer_runners}
        if self._relay is not None:
            checks.update(self._relay.status())
            if checks["database"] == "ok":
                try:
                    checks["outbox_backlog"] = await asyncio.wait_for(self._relay.backlog(), 5)
                except Exception as exc:  # noqa: BLE001 - reported, not raised
                    checks["outbox_backlog"] = f"error: {exc!r}"
        return checks

    def install(self, app: FastAPI) -> None:
        from .docs import install_offline_docs

        use_fast_json(app)  # before any route: the ops routes here, the service's routers after

        install_offline_docs(app)
        from .httpmetrics import HttpMetricsMiddleware

        app.add_middleware(HttpMetricsMiddleware)
        # last, so the guard is outermost and catches what any middleware raises
        install_http_edges(app, self.settings.http_max_body_bytes, self.domain_errors)
        from .signin import install_sign_in

        install_sign_in(app, self.settings)  # /auth/*: people reach the pages through their issuer
        # one naming and one version for the four APIs (generated clients, the docs' titles)
        app.title = f"Jumelage — {self.settings.service}"
        app.version = _project_version()
        app.state.runtime = self

        @app.get("/healthz", tags=["ops"])
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": self.settings.service}

        @app.get("/readyz", tags=["ops"])
        async def readyz() -> JSONResponse:
            checks = await self.readiness()
            ok = checks.get("database") == "ok"  # NATS and the relay are reported, not required
            return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)

        @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
        async def metrics() -> Response:
            from .metrics import render

            await self.readiness()  # backlog, stall and connection gauges as they are now
            return Response(render(), media_type="text/plain; version=0.0.4")


def serve(app: str, settings: Any) -> None:
    """Serve a service with uvicorn on the settings' host and port, until SIGINT/SIGTERM.

    ``app`` names a factory building the service's ASGI app from the environment
    (``"candidatures.main:create_app"``): with ``settings.workers`` > 1 (``WORKERS``) uvicorn's
    supervisor binds the port once and starts that many worker processes, each calling the
    factory (its own runtime: pool share, relay, consumers — the store leases keep one active
    relay and one active consumer per durable among them), restarts one that dies, and stops
    them all on SIGTERM/SIGINT. uvloop and httptools, always (fails at start without them).
    The kit logs (structlog JSON, with correlation ids) replace uvicorn's, and there is no
    per-request access line: the kit's middleware logs what is worth logging. Refuses to start
    outside development on a guessable token secret (:func:`eventkit.auth.check_signing_secret`)."""
    import uvicorn

    try:
        check_signing_secret(settings)
    except InsecureSigningSecret as exc:
        raise SystemExit(f"{settings.service}: refusing to start: {exc}") from None
    uvicorn.run(app, factory=True, host=settings.host, port=settings.port, workers=settings.workers,
                loop="uvloop", http="httptools", log_config=None, access_log=False,
                log_level=settings.log_level.lower())


def serve_service(service: str, factory: str, args: Any = None) -> None:
    """``python -m <service> [serve] [--workers N]``: settings from the environment, ``--workers``
    (from :func:`eventkit.commandline.add_workers_option`) written back into it so that every
    worker process reads the same count (each takes its share of the pool from it)."""
    from .settings import ServiceSettings

    from pydantic import ValidationError

    workers = getattr(args, "workers", None)
    if workers is not None:
        os.environ[f"{service.upper()}_WORKERS"] = str(workers)
    try:
        settings = ServiceSettings.from_env(service)
    except ValidationError as exc:  # one line per setting refused, naming it, instead of a traceback
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"{service}: refusing to start: {problems}") from None
    serve(factory, settings)


def _project_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jumelage")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
