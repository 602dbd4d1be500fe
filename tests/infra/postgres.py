"""A real PostgreSQL for tests, found in order and never skipped silently.

1. ``JUMELAGE_TEST_DATABASE_URL``: a server URL (``postgresql://postgres@127.0.0.1:5432``);
   CI points it at the machine's server.
2. testcontainers' ``PostgresContainer`` when a Docker engine answers within a few seconds.
3. The machine's PostgreSQL binaries (``initdb``/``pg_ctl`` under ``/usr/lib/postgresql/*/bin`` or
   on ``PATH``): a throw-away cluster in a temp dir, on a free port, with its own socket dir
   (the packaged default, ``/var/run/postgresql``, may not exist). ``initdb`` refuses to run as
   root, so as root the cluster belongs to an unprivileged user (``postgres``, else ``nobody``)
   and the binaries run through ``runuser`` (or ``setpriv``).

If none works, :class:`NoPostgresFound` says what was tried and why each failed.

Each test then gets a database of its own from :func:`fresh_database`.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

from tests.infra.processes import free_port as _free_port

ENV_URL = "JUMELAGE_TEST_DATABASE_URL"


class NoPostgresFound(RuntimeError):
    pass


def find_postgres() -> tuple[str, Callable[[], None]]:
    """``(server_url, cleanup)`` of a PostgreSQL server the tests may create databases on."""
    tried: list[str] = []
    env_url = os.environ.get(ENV_URL)
    if env_url:
        problem = _probe(env_url)
        if problem is None:
            return _plain_server_url(env_url), lambda: None
        # An explicit URL that does not answer is a configuration error: say so, don't fall back.
        raise NoPostgresFound(f"{ENV_URL}={env_url} does not answer: {problem}")
    tried.append(f"{ENV_URL}: not set")

    docker_problem = _docker_problem()
    if docker_problem is None:
        try:
            return _start_container()
        except Exception as exc:  # noqa: BLE001 - reported below, then the next way is tried
            tried.append(f"testcontainers: {exc!r}")
    else:
        tried.append(f"testcontainers: {docker_problem}")

    try:
        return start_local_postgres()
    except Exception as exc:  # noqa: BLE001
        tried.append(f"local binaries: {exc}")
    raise NoPostgresFound(
        "no PostgreSQL for the integration tests (they are never skipped). Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nSet {ENV_URL}=postgresql://user@host:port, start Docker, or install PostgreSQL's server binaries."
    )


def _plain_server_url(url: str) -> str:
    """``postgresql://user@host:port`` whatever driver suffix or database the URL carried."""
    parts = urlsplit(url)
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def _asyncpg_dsn(server_url: str, database: str) -> str:
    parts = urlsplit(_plain_server_url(server_url))
    return urlunsplit(("postgresql", parts.netloc, "/" + database, "", ""))


def _probe(url: str, timeout: float = 5.0) -> str | None:
    """None when the server answers ``SELECT 1``, else why not."""
    import asyncpg

    async def check() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(url, "postgres"), timeout=timeout)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    try:
        _run_async(check())
        return None
    except Exception as exc:  # noqa: BLE001
        return repr(exc)


def _run_async(coro) -> None:
    """Run ``coro`` to completion even when called from inside a running event loop (fixtures)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    import threading

    errors: list[BaseException] = []

    def runner() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


# -- Docker ---------------------------------------------------------------------------------------


def _docker_problem(timeout: float = 3.0) -> str | None:
    """None when a Docker engine answers a ping within ``timeout``, else why not."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:200]})"


def _start_container() -> tuple[str, Callable[[], None]]:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:16-alpine", username="postgres", password="postgres", dbname="postgres")
    container.start()
    host = container.get_container_host_ip()
    port = container.get_exposed_port(5432)
    return f"postgresql://postgres:postgres@{host}:{port}", container.stop


# -- local binaries -------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: the newest packaged version, else PATH."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(x) for x in name.split(".") if x.isdigit())

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        real = Path(initdb).resolve().parent
        if (real / "pg_ctl").exists():
            return real
    raise NoPostgresFound("no initdb/pg_ctl under /usr/lib/postgresql/*/bin nor on PATH")




def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise NoPostgresFound("running as root and neither a 'postgres' nor a 'nobody' user exists for initdb")


def _as_user(argv: list[str], user: pwd.struct_passwd | None) -> list[str]:
    if user is None:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", user.pw_name, "--", *argv]
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *argv]
    raise NoPostgresFound("running as root and neither runuser nor setpriv is available to drop privileges")


def start_local_postgres(timeout: float = 60.0) -> tuple[str, Callable[[], None]]:
    """Start a private PostgreSQL cluster from the machine's binaries; ``(server_url, cleanup)``."""
    bin_dir = postgres_bin_dir()
    user = _unprivileged_user() if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="jumelage-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "postgres.log"
    sockets.mkdir()
    if user is not None:
        for path in (base, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}

    def run(argv: list[str], step: str) -> None:
        done = subprocess.run(_as_user(argv, user), capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(base))
        if done.returncode != 0:
            raise NoPostgresFound(f"{step} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    port = _free_port()
    try:
        run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync"], "initdb")
        options = (f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t",
             str(int(timeout)), "start"], "pg_ctl start")
    except Exception as exc:
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise NoPostgresFound(f"{exc}\n{detail}".strip()) from exc

    def cleanup() -> None:
        subprocess.run(_as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user),
                       capture_output=True, timeout=timeout, env=env, cwd=str(base))
        shutil.rmtree(base, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}", cleanup


# -- one database per test ------------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """Create ``jumelage_t_<hex>``, yield its ``postgresql+asyncpg://`` URL, drop it afterwards."""
    import asyncpg

    name = f"jumelage_t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_asyncpg_dsn(server_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(_plain_server_url(server_url))
    try:
        yield urlunsplit(("postgresql+asyncpg", parts.netloc, "/" + name, "", ""))
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(server_url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
