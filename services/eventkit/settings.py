"""Settings from the environment. ``<SERVICE>_DATABASE_URL`` beats ``DATABASE_URL`` beats the
embedded default (one SQLite file per service under ``JUMELAGE_DATA_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from .store import DEFAULT_EVENT_MAX_BYTES

DEV_SECRET = "jumelage-dev-secret-change-me-in-production"
# PostgreSQL pool of one service process (see ServiceSettings.db_pool_size); eventkit.sql's default.
DB_POOL_SIZE = 20
DB_MAX_OVERFLOW = 5
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
    # PostgreSQL connections of one process: HTTP handlers, relay and consumers share them. The
    # pool keeps ``db_pool_size`` open; up to ``db_max_overflow`` more are opened under a burst
    # and CLOSED when handed back, so a steady load above the pool size pays a connection (and
    # asyncpg's type introspection and statement preparation) per request. Size the pool for the
    # steady load and keep the server's max_connections >= services x (pool + overflow).
    db_pool_size: int = DB_POOL_SIZE
    db_max_overflow: int = DB_MAX_OVERFLOW
    # The largest event the store accepts, in bytes on the bus (eventkit.store); 0 turns it off.
    event_max_bytes: int = DEFAULT_EVENT_MAX_BYTES

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
            "event_max_bytes": int(pick("EVENT_MAX_BYTES", str(DEFAULT_EVENT_MAX_BYTES)) or 0),
        }
        values.update(overrides)
        return cls.model_validate(values)


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` / ``sqlite:///`` spellings and pick the async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url
