"""The only place that knows the concrete parts: runtime, consumers, routes. Tests override any."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from eventkit.clock import Clock
from eventkit.http import manual_clock_router
from eventkit.runtime import ServiceRuntime
from eventkit.settings import ServiceSettings
from eventkit.store import EventStore
from reporting.api import ops
from reporting.api import figures as figure_routes
from reporting.api.routes import principal, router
from reporting.app.live import LiveProjection

MIGRATIONS = Path(__file__).resolve().parent / "adapters" / "migrations"
SOURCES = ("candidatures", "programmes", "notifications")


def consumer_name(source: str) -> str:
    return f"reporting-{source}"


def build_runtime(settings: ServiceSettings, *, store: EventStore | None = None, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(settings, clock=clock, migrations=[MIGRATIONS], store=store)
    projection = LiveProjection()
    for source in SOURCES:
        # every event of the source: the read models want them all, and an event type added later
        # is then already in the log when a new indicator needs it (rebuild)
        runtime.add_consumer(consumer_name(source), source=source, handler=projection,
                             batch_handler=projection.batch)
    return runtime


def build_app(settings: ServiceSettings | None = None, *, runtime: ServiceRuntime | None = None,
              store: EventStore | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ServiceSettings.from_env("reporting")
    runtime = runtime or build_runtime(settings, store=store, clock=clock)
    app = FastAPI(description="Indicators per académie, département, dispositif, school year, EAC domain and "
                              "éducation prioritaire, as of any date; partnership timelines; CSV; dashboard.",
                  lifespan=runtime.lifespan)
    runtime.install(app)
    app.include_router(router)
    app.include_router(figure_routes.router)
    app.include_router(ops.router)
    # "today" (the default as_of) follows the clock: a demo that moves the other services' clocks
    # moves this one too, so the figures read without as_of show what just happened
    app.include_router(manual_clock_router(principal))
    return app
