"""The one place that knows concrete classes: builds the runtime, the service and the FastAPI app.

Every part is overridable in tests: settings, a store already opened (in-memory, SQLite,
PostgreSQL), a clock (``ManualClock``), the snapshot cache, and whether consumers run.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from eventkit.clock import Clock
from eventkit.http import manual_clock_router
from eventkit.runtime import ServiceRuntime
from eventkit.settings import ServiceSettings

from programmes.adapters.directory import MIGRATIONS
from programmes.api.consumers import (
    CONSUMER,
    RETENTION_CONSUMER,
    RETENTION_TYPES,
    TYPES,
    candidatures_handler,
    retention_handler,
)
from programmes.adapters.snapshots import snapshots_for
from programmes.api.routes import admin_router, principal, router
from programmes.app.access import AccessDenied
from programmes.app.policies import CandidaturesPolicies
from programmes.app.retention import RetentionPolicies
from programmes.app.service import PartnershipService
from programmes.app.snapshots import StreamLoader
from programmes.domain.errors import DomainError

SERVICE = "programmes"


def build_runtime(settings: ServiceSettings | None = None, *, store: Any = None, clock: Clock | None = None) -> ServiceRuntime:
    settings = settings or ServiceSettings.from_env(SERVICE)
    return ServiceRuntime(settings, clock=clock, store=store, migrations=[MIGRATIONS],
                          domain_errors={DomainError: 422, AccessDenied: 403})


async def after_erasure(store: Any) -> None:
    """What ``jumelage erase`` does here beyond the key: the persisted snapshots go (they hold
    folded states in clear)."""
    await snapshots_for(store).clear()


def build_app(settings: ServiceSettings | None = None, *, runtime: ServiceRuntime | None = None,
              consumers: bool = True, snapshots: bool = True, **kw: Any) -> FastAPI:
    runtime = runtime or build_runtime(settings, **kw)
    service = PartnershipService(runtime, StreamLoader(snapshots=snapshots))
    if consumers:
        policies = CandidaturesPolicies(service)
        runtime.add_consumer(CONSUMER, source="candidatures", handler=candidatures_handler(policies), types=TYPES)
        retention = RetentionPolicies(service)
        runtime.add_consumer(RETENTION_CONSUMER, source="notifications", handler=retention_handler(retention),
                             types=RETENTION_TYPES, after_commit=retention.after_commit)
    app = FastAPI(
        description="One partnership across its school years: referents, convention, meetings, actions per "
                    "class, bilan. Bearer token (role + scope) on every route; writes return the new stream "
                    "version (body and ETag), If-Match pins it (409 on conflict).",
        lifespan=runtime.lifespan,
    )
    runtime.install(app)
    app.state.programmes = service
    app.include_router(router)
    app.include_router(admin_router)
    app.include_router(manual_clock_router(principal))
    return app
