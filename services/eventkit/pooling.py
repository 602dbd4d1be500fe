"""Finding a pooled PostgreSQL connection the server closed, without a round trip.

SQLAlchemy's ``pool_pre_ping`` (what :func:`eventkit.sql.make_engine` sets by default) checks
every connection the pool hands out with BEGIN, a statement and ROLLBACK: three round trips per
checkout, measured at about 20 % of the candidatures service's CPU under load
(``benchmarks/e2e.py --profile``). A service process instead asks asyncpg whether the socket is
still open: a connection the server ended (``pg_terminate_backend``, restart, failover, idle
timeout) was closed by the server, the event loop has seen it, and the pool replaces it before
handing it out. What this does not see — a peer gone silent without closing (a network cut) —
surfaces as an error on first use, answered 503 with ``Retry-After`` (``eventkit.http``), and the
pool drops that connection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc


def check_closed_on_checkout(engine: Any) -> None:
    """Replace, on checkout, any pooled asyncpg connection whose socket is closed (no round trip)."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise exc.DisconnectionError("the server closed this connection")
