"""A store lease: at most one holder of ``name`` among the processes sharing a store — the outbox
relay (``relay:<source>``) and each durable consumer (``consumer:<durable>``) hold one.

:meth:`StoreLease.hold` takes or renews it (a real renewal at most every third of the TTL),
:meth:`StoreLease.fence` renews it inside a transaction about to commit (or raises
:class:`LeaseLost`), :meth:`StoreLease.release` gives it up on a clean stop. A store without
leases (none, or one without ``acquire_lease``) serves one process by construction: the lease is
then always held."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from typing import Any, Callable

from ..logging import get_logger

log = get_logger("eventkit.lease")


class LeaseLost(Exception):
    """Another process holds the lease now: this one must not commit as its holder."""


class StoreLease:
    def __init__(self, store: Any, name: str, ttl: float, *, holder: str | None = None, what: str,
                 on_change: Callable[[bool], None], **log_fields: Any) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False
        self._what = what  # the log events' prefix: relay_lease_acquired, consumer_lease_lost…
        self._on_change = on_change
        self._fields = log_fields
        self._at = 0.0  # monotonic time of the last successful acquire/renew

    @property
    def supported(self) -> bool:
        return self.store is not None and getattr(self.store, "acquire_lease", None) is not None

    def age(self) -> float:
        """Seconds since the lease was last taken or renewed."""
        return time.monotonic() - self._at

    async def hold(self, force: bool = False) -> bool:
        """Take or renew the lease; True while held. ``force``: renew now, whatever its age."""
        if not self.supported:
            self.held = True
            return True
        if self.held and not force and self.age() < self.ttl / 3:
            return True
        taken = bool(await self.store.acquire_lease(self.name, self.holder, self.ttl))
        if taken:
            self._at = time.monotonic()
            if not self.held:
                log.info(f"{self._what}_lease_acquired", holder=self.holder, **self._fields)
        elif self.held:
            log.warning(f"{self._what}_lease_lost", holder=self.holder, **self._fields)
        self._set(taken)
        return taken

    async def fence(self, tx: Any) -> None:
        """Renew the lease inside ``tx`` (``hold_lease``), or raise :class:`LeaseLost`: nothing of
        ``tx`` may then be committed."""
        if self.supported:
            if not await tx.hold_lease(self.name, self.holder, self.ttl):
                raise LeaseLost(self.name)
            self._at = time.monotonic()

    def lost(self) -> None:
        """Another process was found holding it (a fence or a forced renewal refused)."""
        self._set(False)

    async def release(self) -> None:
        """Give the lease up at once (a clean stop hands over without waiting for the TTL)."""
        if not self.supported or not self.held:
            return
        self._set(False)
        try:
            await asyncio.wait_for(self.store.release_lease(self.name, self.holder), 2)
        except BaseException as exc:  # noqa: BLE001 - the lease expires by itself anyway
            log.warning(f"{self._what}_lease_release_failed", error=repr(exc), **self._fields)

    def _set(self, held: bool) -> None:
        self.held = held
        self._on_change(held)
