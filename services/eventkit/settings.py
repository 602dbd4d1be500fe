"""Settings from the environment. ``<SERVICE>_DATABASE_URL`` beats ``DATABASE_URL`` beats the
embedded default (one SQLite file per service under ``JUMELAGE_DATA_DIR``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from .store import DEFAULT_EVENT_MAX_BYTES

DEFAULT_MAX_BODY_BYTES = 256 * 1024  # eventkit.http's request body limit

DEV_SECRET = "jumelage-dev-secret-change-me-in-production"
# PostgreSQL pool of one service (see ServiceSettings.db_pool_size); eventkit.sql's default.
DB_POOL_SIZE = 25
DB_MAX_OVERFLOW = 0
# The store leases (eventkit.bus.lease): the relay's and each durable consumer's. A holder that dies
# is replaced once its lease runs out, so the TTL bounds the failover; the holder renews every third
# of it (one write each time, per lease and process). Below 3 s a renewal would have about a second
# to get through a loaded database before the lease is lost and the process goes to standby.
LEASE_TTL_SECONDS = 10.0
LEASE_TTL_BOUNDS = (3.0, 300.0)
DEFAULT_PORTS = {"candidatures": 8101, "programmes": 8102, "notifications": 8103, "reporting": 8104}


class ServiceSettings(BaseModel):
    service: str
    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    subject_root: str = "jumelage"
    jwt_secret: str = DEV_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    clock: str = "system"  # "system" or "manual" (demo/tests: POST /admin/clock moves it)
    relay_enabled: bool = True
    public_url: str = ""
    # PostgreSQL connections of one service (one ``serve`` command, all its workers): HTTP
    # handlers, relay and consumers share them. The pool keeps ``db_pool_size`` open; up to
    # ``db_max_overflow`` more are opened under a burst and CLOSED when handed back, so a steady
    # load above the pool size would pay a connection (and asyncpg's type introspection and
    # statement preparation) per request: the default is no overflow, a request beyond the pool
    # waits for a connection instead. Keep the server's max_connections >= services x (pool +
    # overflow). Each worker process gets its share (:meth:`worker_pool`).
    db_pool_size: int = DB_POOL_SIZE
    db_max_overflow: int = DB_MAX_OVERFLOW
    # Worker processes serving the HTTP port (uvicorn's supervisor, one listening socket): each
    # runs the whole runtime; the store leases keep one active relay per store and one active
    # consumer per durable among them. 1: a single process, no supervisor.
    workers: int = Field(default=1, ge=1)
    # Seconds a relay or consumer lease lasts without renewal (LEASE_TTL_SECONDS): the longest a
    # dead holder's work waits for another process, and a renewal write every third of it.
    lease_ttl_seconds: float = LEASE_TTL_SECONDS
    # Who signs people in (eventkit.auth). "development" (JUMELAGE_ENV, set by the embedded runner)
    # is the only environment where the built-in or a short HS256 secret may start a service.
    environment: str = "production"
    oidc_issuer: str = ""  # set: RS256/ES256 tokens of this issuer only, HS256 refused
    oidc_audience: str = "jumelage-api"
    oidc_discovery_url: str = ""  # when the services reach the issuer at another address than its name
    oidc_jwks_url: str = ""  # when even the discovered jwks_uri is not reachable from the services
    oidc_role_claim: str = "realm_access.roles"
    oidc_scope_claim: str = "jumelage_scope"
    oidc_leeway_seconds: float = 30.0
    oidc_jwks_max_age_seconds: float = 600.0
    oidc_jwks_min_refetch_seconds: float = 10.0
    # Browser sign-in on the pages (eventkit.signin): with an issuer and a client id, a person
    # without a token is sent to the issuer (code flow + PKCE) and back to PUBLIC_URL/auth/callback.
    oidc_client_id: str = ""
    oidc_client_secret: str = ""  # set: a confidential client (HTTP Basic at the token endpoint)
    oidc_signin_scope: str = "openid email"
    # Signs the sign-in ``state``; empty: a random key per process (a sign-in started on one
    # instance must then finish on the same one: set it when several share one PUBLIC_URL).
    oidc_state_secret: str = ""

    # The largest event the store accepts, in bytes on the bus (eventkit.store); 0 turns it off.
    event_max_bytes: int = DEFAULT_EVENT_MAX_BYTES
    # The largest request body, answered 413 before parsing (eventkit.http); 0 turns it off.
    http_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @field_validator("lease_ttl_seconds")
    @classmethod
    def _lease_ttl_within_bounds(cls, value: float) -> float:
        low, high = LEASE_TTL_BOUNDS
        if not low <= value <= high:
            raise ValueError(f"LEASE_TTL_SECONDS must be between {low:g} and {high:g} seconds, not {value:g}: "
                             f"below, a renewal (every third of it) may not get through a busy database in "
                             f"time; above, a dead relay or consumer holds its work up that long")
        return value

    def worker_pool(self) -> dict[str, int]:
        """One worker's share of the service's pool: ``pool_size`` and ``max_overflow`` divided
        among the workers (rounded up), so WORKERS does not multiply the connections."""
        workers = max(1, self.workers)
        return {"pool_size": max(1, -(-self.db_pool_size // workers)),
                "max_overflow": -(-self.db_max_overflow // workers)}

    @classmethod
    def from_env(cls, service: str, env: dict[str, str] | None = None, **overrides) -> "ServiceSettings":
        env = dict(os.environ if env is None else env)
        prefix = service.upper() + "_"

        def pick(name: str, default: str | None = None) -> str | None:
            return env.get(prefix + name) or env.get(name) or default

        data_dir = Path(pick("JUMELAGE_DATA_DIR", "var") or "var")
        default_db = f"sqlite+aiosqlite:///{data_dir / (service + '.db')}"
        port = int(pick("PORT", str(DEFAULT_PORTS.get(service, 8000))) or 8000)
        values = {
            "service": service,
            "database_url": normalise_database_url(pick("DATABASE_URL", default_db) or default_db),
            "nats_url": pick("NATS_URL", "nats://127.0.0.1:4222"),
            "subject_root": pick("NATS_SUBJECT_ROOT", "jumelage"),
            "jwt_secret": pick("JWT_SECRET", DEV_SECRET),
            "host": pick("HOST", "127.0.0.1"),
            "port": port,
            "log_level": pick("LOG_LEVEL", "INFO"),
            "log_json": (pick("LOG_JSON", "1") or "1") not in ("0", "false", "no"),
            "clock": pick("CLOCK", "system"),
            "relay_enabled": (pick("RELAY_ENABLED", "1") or "1") not in ("0", "false", "no"),
            "public_url": pick("PUBLIC_URL", f"http://127.0.0.1:{port}"),
            "db_pool_size": int(pick("DATABASE_POOL_SIZE") or DB_POOL_SIZE),
            "db_max_overflow": int(pick("DATABASE_MAX_OVERFLOW") or DB_MAX_OVERFLOW),
            "workers": int(pick("WORKERS") or 1),
            "lease_ttl_seconds": pick("LEASE_TTL_SECONDS", str(LEASE_TTL_SECONDS)),
            "environment": pick("JUMELAGE_ENV", "production"),
            **{name: value for name, value in _oidc_values(pick).items() if value is not None},

            "event_max_bytes": int(pick("EVENT_MAX_BYTES", str(DEFAULT_EVENT_MAX_BYTES)) or 0),
            "http_max_body_bytes": int(pick("HTTP_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)) or 0),
        }
        values.update(overrides)
        return cls.model_validate(values)


def embedded_nats_url(data_dir: Path) -> str | None:
    """The NATS of a ``dev.py run`` holding ``data_dir`` (its runner writes ``runner.json``), so
    the operator CLI run from the project finds the embedded stack without ``NATS_URL``."""
    try:
        state = json.loads((data_dir / "runner.json").read_text())
        os.kill(int(state["pid"]), 0)  # a runner that is gone left a stale file
    except (OSError, ValueError, KeyError, TypeError):
        return None
    url = state.get("nats_url")
    return url if isinstance(url, str) else None


def _oidc_values(pick) -> dict[str, str | None]:
    return {
        "oidc_issuer": pick("OIDC_ISSUER"),
        "oidc_audience": pick("OIDC_AUDIENCE"),
        "oidc_discovery_url": pick("OIDC_DISCOVERY_URL"),
        "oidc_jwks_url": pick("OIDC_JWKS_URL"),
        "oidc_role_claim": pick("OIDC_ROLE_CLAIM"),
        "oidc_scope_claim": pick("OIDC_SCOPE_CLAIM"),
        "oidc_leeway_seconds": pick("OIDC_LEEWAY_SECONDS"),
        "oidc_jwks_max_age_seconds": pick("OIDC_JWKS_MAX_AGE_SECONDS"),
        "oidc_jwks_min_refetch_seconds": pick("OIDC_JWKS_MIN_REFETCH_SECONDS"),
        "oidc_client_id": pick("OIDC_CLIENT_ID"),
        "oidc_client_secret": pick("OIDC_CLIENT_SECRET"),
        "oidc_signin_scope": pick("OIDC_SIGNIN_SCOPE"),
        "oidc_state_secret": pick("OIDC_STATE_SECRET"),
    }


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` / ``sqlite:///`` spellings and pick the async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url
