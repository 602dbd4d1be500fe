"""Wake the active relay of a store from any process that appended to it (PostgreSQL LISTEN/NOTIFY).

A process wakes its own relay after every append (``ServiceRuntime.append``), so events leave at
once instead of at the relay's next poll. With several processes on one store (``WORKERS=N``,
or replicas) only one relay holds the lease ``relay:<source>``: an append served by another
process would wait for that relay's poll (0.2 s). So each process LISTENs on the channel
``jumelage_relay_<source>`` of its database, and a process whose own relay is not the active one
sends a NOTIFY after its appends; the holder wakes on it.

Off the request path: ``notify()`` returns at once; one NOTIFY is in flight at a time and the
appends made meanwhile share the next one (a NOTIFY sent after the last commit is what matters).
A lost NOTIFY (connection down) costs latency only: the relay still polls. SQLite stores have no
such channel: there the relay's poll is the wake-up of other processes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from .logging import get_logger

log = get_logger("eventkit.relaywake")


def channel_for(source: str) -> str:
    return f"jumelage_relay_{source}"


class RelayWakeup:
    """One asyncpg connection that listens for wake-ups on ``channel`` and sends them."""

    def __init__(self, dsn: str, channel: str, on_wake: Callable[[], None], retry_seconds: float = 2.0) -> None:
        self.dsn = dsn
        self.channel = channel
        self.on_wake = on_wake
        self.retry_seconds = retry_seconds
        self.sent = 0  # NOTIFYs sent by this process (tests, benchmarks)
        self.received = 0
        self._conn: Any = None
        self._task: asyncio.Task | None = None
        self._sending = False
        self._again = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=f"listen:{self.channel}")

    def notify(self) -> None:
        """Ask the other processes' relays to read the store now; never waits, never raises."""
        if self._conn is None:
            return
        if self._sending:
            self._again = True  # an append committed after the NOTIFY in flight was sent
            return
        self._sending = True
        asyncio.get_running_loop().create_task(self._send())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2)
            except BaseException:  # noqa: BLE001 - closing on the way out
                conn.terminate()

    async def _send(self) -> None:
        try:
            while True:
                self._again = False
                conn = self._conn
                if conn is None:
                    return
                await conn.execute("SELECT pg_notify($1, '')", self.channel)
                self.sent += 1
                if not self._again:
                    return
        except Exception as exc:  # noqa: BLE001 - the relay's poll covers a lost wake-up
            log.debug("relay_wakeup_notify_failed", channel=self.channel, error=repr(exc))
        finally:
            self._sending = False

    def _received(self, *_: Any) -> None:
        self.received += 1
        self.on_wake()

    async def _listen(self) -> None:
        """Keep a listening connection open, opening it again after a loss."""
        import asyncpg

        while True:
            closed = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.dsn)
                conn.add_termination_listener(lambda _conn: closed.set())
                await conn.add_listener(self.channel, self._received)
                self._conn = conn
                await closed.wait()
                log.warning("relay_wakeup_connection_lost", channel=self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried; the relay polls meanwhile
                log.warning("relay_wakeup_listen_failed", channel=self.channel, error=repr(exc))
            self._conn = None
            await asyncio.sleep(self.retry_seconds)


def asyncpg_dsn(database_url: str) -> str | None:
    """The asyncpg DSN of a PostgreSQL database URL; None for any other store."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
