"""A NATS connection that a service can start while NATS is down.

A service must start and accept commands with NATS away (the outbox grows and drains later), so
:meth:`NatsConnection.start` waits for NATS only briefly and lets the first connect go on in the
background; once connected, nats-py reconnects forever. Hooks registered with :meth:`NatsConnection.on_connect` (stream
provisioning) run after every (re)connect, so a NATS server that came back empty is provisioned
again before the relay publishes into it.

nats-py reconnects a *disconnected* client by itself, but a client the server *closed* (a
protocol error: ``-ERR 'Maximum Payload Violation'`` for a message whose headers and body pass
``max_payload`` together, which nats-py does not check) stays closed for good. Here a close we
did not ask for opens a new client, after a backoff that grows while closes keep coming; ``nc``
and ``js`` are then the new ones. Callers read ``nats.js`` / ``nats.nc`` at each use (the relay
and the consumer do; a consumer's subscription on the old client fails and it binds again).

``url`` may name several servers of one cluster, comma-separated (``NATS_URL=nats://a:4222,
nats://b:4222,nats://c:4222``): nats-py connects to one of them and, when it goes away, reconnects
to another (it also learns the cluster's other members from the server it reached). A server that
freezes rather than dies (a stopped VM, a partition) keeps the socket open: the client notices
only when ``max_outstanding_pings`` pings, sent every ``ping_interval`` seconds, go unanswered.
nats-py's defaults (120 s, 2) would hold a service on a frozen member for four minutes; the kit's
(5 s, 2) move it within about 15 s, for one small PING a connection every 5 s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from nats.aio.client import Client
from nats.js import JetStreamContext

from ..logging import get_logger

Hook = Callable[[], Awaitable[None]]
log = get_logger("eventkit.bus")


def server_urls(url: str) -> list[str]:
    """The servers a ``NATS_URL`` names: one URL, or several of one cluster comma-separated.

    A server after the first may be named by ``host:port`` alone, as in PostgreSQL's multi-host
    URLs (``nats://user:password@nats:4222,nats-2:4222,nats-3:4222``): it takes the first's scheme
    and credentials, so a deployment lists its servers without repeating the password."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError("NATS_URL names no server")
    scheme, _, rest = urls[0].partition("://")
    userinfo = rest.split("/", 1)[0].rpartition("@")[0]
    prefix = f"{scheme}://" + (f"{userinfo}@" if userinfo else "")
    return [urls[0], *(part if "://" in part else prefix + part for part in urls[1:])]


class NatsConnection:
    """One NATS client and its JetStream context for a service process.

    ``nc`` and ``js`` exist from :meth:`start` on; ``connected`` is the live state (False until
    the first connect succeeds and while nats-py is reconnecting).
    """

    def __init__(self, url: str, name: str | None = None, *, connect_timeout: float = 2.0,
                 reconnect_wait: float = 0.5, js_timeout: float = 5.0,
                 publish_async_max_pending: int = 4000, reopen_initial: float = 0.5,
                 reopen_max: float = 10.0, ping_interval: float = 5.0, max_outstanding_pings: int = 2) -> None:
        self.url = url
        self.servers = server_urls(url)
        self.name = name
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self._connect_timeout = connect_timeout
        self._reconnect_wait = reconnect_wait
        self._js_timeout = js_timeout
        self._max_pending = publish_async_max_pending
        self._ping_interval = ping_interval
        self._max_outstanding_pings = max_outstanding_pings
        self._hooks: dict[str, Hook] = {}
        self._up = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._hook_tasks: set[asyncio.Task] = set()
        self._closing = False
        self._reopen_initial = reopen_initial
        self._reopen_max = reopen_max
        self._reopen_delay = reopen_initial
        self._connected_at = 0.0
        self._reopen_task: asyncio.Task | None = None
        self.reopened = 0  # clients opened again after the server closed one (tests, logs)

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def start(self, wait: float | None = None) -> None:
        """Connect, waiting at most ``wait`` seconds (default: the connect timeout); when NATS does
        not answer by then, go on connecting in the background. Never raises for an unreachable
        server."""
        self._open()
        assert self._task is not None
        done, _ = await asyncio.wait({self._task}, timeout=self._connect_timeout if wait is None else wait)
        if not done:
            log.warning("nats_unreachable_at_start", url=self.url)

    def _open(self) -> None:
        self.nc = Client()
        self.js = self.nc.jetstream(timeout=self._js_timeout, publish_async_max_pending=self._max_pending)
        self._task = asyncio.create_task(self._connect(), name=f"nats-connect:{self.name}")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected (or ``timeout`` seconds); returns ``connected``."""
        if self.connected:
            return True
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.connected

    def on_connect(self, key: str, hook: Hook, run_now: bool = True) -> None:
        """Run ``hook`` after every (re)connect (and now, in the background, if connected and
        ``run_now``); one hook per ``key``."""
        self._hooks[key] = hook
        if run_now and self.connected:
            self._spawn(hook)

    async def run_hooks(self) -> None:
        for hook in list(self._hooks.values()):
            await self._safe(hook)

    async def close(self) -> None:
        self._closing = True
        if self._reopen_task is not None and not self._reopen_task.done():
            self._reopen_task.cancel()
            await asyncio.gather(self._reopen_task, return_exceptions=True)
        # nats-py's first-connect loop retries forever, and on Python 3.11 a cancellation that
        # lands as one of its ``wait_for`` timeouts fires is swallowed: cancel until it stops
        for _ in range(100):
            if self._task is None or self._task.done():
                break
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=0.1)
        else:
            log.warning("nats_connect_task_did_not_stop", url=self.url)
        for task in list(self._hook_tasks):
            task.cancel()
        await asyncio.gather(*self._hook_tasks, return_exceptions=True)
        if self.nc is not None and (self.nc.is_connected or self.nc.is_reconnecting):
            try:
                await asyncio.wait_for(self.nc.close(), 5)
            except Exception as exc:  # noqa: BLE001 - closing anyway
                log.warning("nats_close_failed", error=str(exc))
        self._up.clear()

    # -- internals ----------------------------------------------------------------------------

    async def _connect(self) -> None:
        assert self.nc is not None
        # With max_reconnect_attempts=-1 nats-py retries the *first* connect forever too, and
        # once connected it reconnects forever: a service outlives any NATS outage.
        await self.nc.connect(
            servers=self.servers,
            name=self.name,
            connect_timeout=self._connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self._reconnect_wait,
            ping_interval=self._ping_interval,
            max_outstanding_pings=self._max_outstanding_pings,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
            closed_cb=self._on_closed,
        )
        self._up.set()
        self._connected_at = time.monotonic()
        log.info("nats_connected", url=self.url)
        for hook in list(self._hooks.values()):
            self._spawn(hook)

    def _spawn(self, hook: Hook) -> None:
        # Hooks make JetStream API calls: never run them inside nats-py's own callbacks.
        task = asyncio.create_task(self._safe(hook))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def _safe(self, hook: Hook) -> None:
        try:
            await hook()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged; the next reconnect retries
            log.warning("nats_on_connect_hook_failed", error=repr(exc))

    async def _on_disconnected(self) -> None:
        self._up.clear()
        if not self._closing:
            log.warning("nats_disconnected", url=self.url)

    async def _on_reconnected(self) -> None:
        self._up.set()
        log.info("nats_reconnected", url=self.url)
        for hook in list(self._hooks.values()):
            self._spawn(hook)

    async def _on_error(self, exc: Exception) -> None:
        # nats-py reports every failed reconnect attempt here; the state is in ``connected``.
        log.debug("nats_error", error=repr(exc))

    async def _on_closed(self) -> None:
        self._up.clear()
        if self._closing or (self._reopen_task is not None and not self._reopen_task.done()):
            return
        log.error("nats_closed_by_server", url=self.url, error=repr(getattr(self.nc, "last_error", None)))
        self._reopen_task = asyncio.create_task(self._reopen(), name=f"nats-reopen:{self.name}")

    async def _reopen(self) -> None:
        # a connection that lived a while resets the backoff; closes in a row make it grow
        if time.monotonic() - self._connected_at > 30:
            self._reopen_delay = self._reopen_initial
        delay, self._reopen_delay = self._reopen_delay, min(self._reopen_delay * 2, self._reopen_max)
        await asyncio.sleep(delay)
        if self._closing:
            return
        self.reopened += 1
        log.info("nats_reopening", url=self.url, after=delay)
        self._open()
