"""The one place that knows concrete classes: builds the runtime and the FastAPI app.

Every part is overridable in tests: pass a store (e.g. a SQLite or PostgreSQL store already
opened), a clock (``ManualClock``) or settings.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from eventkit.clock import Clock
from eventkit.http import manual_clock_router
from eventkit.logging import get_logger
from eventkit.runtime import ServiceRuntime
from eventkit.settings import ServiceSettings

from candidatures.adapters.read_model import MIGRATIONS
from candidatures.api.consumers import on_bilan_recorded, on_partnership_stopped
from candidatures.api.routes import current_principal, router
from candidatures.app.commands import CandidaturesApp
from candidatures.app.queries import CandidaturesQueries
from candidatures.domain.errors import DomainError

SERVICE = "candidatures"
BILAN_CONSUMER = "candidatures-from-programmes"
PLACES_CONSUMER = "candidatures-places-from-programmes"


def build_runtime(settings: ServiceSettings | None = None, *, store: Any = None, clock: Clock | None = None,
                  consumers: bool = True) -> ServiceRuntime:
    settings = settings or ServiceSettings.from_env(SERVICE)
    runtime = ServiceRuntime(settings, clock=clock, migrations=[MIGRATIONS], store=store,
                             domain_errors={DomainError: 422})
    if consumers:
        runtime.add_consumer(BILAN_CONSUMER, source="programmes", handler=on_bilan_recorded, types=["BilanRecorded"])
        runtime.add_consumer(PLACES_CONSUMER, source="programmes", handler=on_partnership_stopped,
                             types=["PartnershipEnded", "ClassCancelled"])
    return runtime


DEADLINE_SWEEP_SECONDS = 60.0


def _lifespan(runtime: ServiceRuntime):
    """The runtime's lifespan plus the sweep that closes campaigns at their deadline."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with runtime.lifespan(app):
            task = asyncio.create_task(_close_at_deadline(app.state.candidatures), name="campaign-deadlines")
            try:
                yield
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    return lifespan


async def _close_at_deadline(app: CandidaturesApp) -> None:
    log = get_logger("candidatures.deadlines")
    while True:
        try:
            closed = await app.close_campaigns_past_deadline()
            if closed:
                log.info("campaigns_closed_at_deadline", campaigns=closed)
        except Exception as exc:  # noqa: BLE001 - the sweep retries next round; the API keeps serving
            log.warning("deadline_sweep_failed", error=str(exc))
        await asyncio.sleep(DEADLINE_SWEEP_SECONDS)


def build_app(settings: ServiceSettings | None = None, *, runtime: ServiceRuntime | None = None, **kw: Any) -> FastAPI:
    runtime = runtime or build_runtime(settings, **kw)
    app = FastAPI(
        description="Campaigns, partner offers, candidatures, instruction, attribution and renewal. "
                    "Bearer token (role + scope) on every route; writes return the new stream version "
                    "(body and ETag), If-Match pins it (409 on conflict).",
        lifespan=_lifespan(runtime),
    )
    runtime.install(app)
    app.state.candidatures = CandidaturesApp(runtime)
    app.state.candidatures_queries = CandidaturesQueries(runtime)
    app.include_router(router)
    app.include_router(manual_clock_router(current_principal))
    return app
