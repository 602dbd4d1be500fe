"""Commands and reads of partnerships, on the kit's command runner (:mod:`eventkit.commands`).

With ``If-Match`` the caller names the version it decided on and a conflict is its own to resolve
(409). Without it, a conflict means someone wrote in between: the command is re-decided on the
fresh stream, after a short random backoff, up to ``RETRIES`` times before the 409 goes out. The
first attempt decides on the state this process last saw, without reading the stream (the
runner's optimistic attempt); the partnership's snapshots (in process and ``prog_snapshots``) are
the loader's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

from eventkit import shredding
from eventkit.auth import Principal
from eventkit.commands import Attempt, CommandRunner, Write
from jumelage_contracts import SYSTEM, Actor, Envelope, EventData
from jumelage_contracts.programmes import partnership_stream

from programmes.adapters.directory import Filters, directory_for, touches_directory
from programmes.adapters.snapshots import snapshots_for
from programmes.app.access import AccessDenied, may_read, may_run
from programmes.app.snapshots import StreamLoader
from programmes.domain import decide as decide_partnership
from programmes.domain.commands import Command, OpenYear
from programmes.domain.errors import NotFound
from programmes.domain.state import State, Unopened

RETRIES = 10


@dataclass(frozen=True)
class Context:
    """Who asks, under which correlation, and on which version they decided (If-Match)."""

    principal: Principal | None
    correlation_id: uuid.UUID
    expected_version: int | None = None
    causation_id: uuid.UUID | None = None

    @property
    def actor(self) -> Actor:
        return self.principal.actor if self.principal is not None else SYSTEM


@dataclass
class Result:
    partnership_id: str
    version: int
    events: list[Envelope] = field(default_factory=list)


def academie_of(state: State, command: Command | None = None) -> str | None:
    if isinstance(command, OpenYear):
        return command.academie
    return None if isinstance(state, Unopened) else state.identity.academie


class PartnershipService:
    """Commands and reads of partnerships, on the runtime's store and clock."""

    def __init__(self, runtime: Any, loader: StreamLoader | None = None) -> None:
        self.runtime = runtime
        self.loader = loader or StreamLoader()
        self._directory: Any = None
        self._snapshots: Any = None
        self.runner = CommandRunner(runtime, project=self._project, projects=touches_directory, retries=RETRIES,
                                    snapshots=lambda: self.snapshots)

    @property
    def directory(self):
        # Chosen on first use: the runtime's store only exists once the runtime has started.
        if self._directory is None:
            self._directory = directory_for(self.runtime.store)
        return self._directory

    @property
    def snapshots(self):
        """The persisted snapshots (chosen on first use, like the directory)."""
        if self._snapshots is None:
            self._snapshots = snapshots_for(self.runtime.store)
        return self._snapshots

    def now(self):
        return self.runtime.clock.now()

    async def load(self, partnership_id: str, source: Any = None):
        # Snapshots are read and written outside the caller's transaction: only loads on the store
        # itself use them (SQLite has one writer; a consumer's transaction must not wait on another).
        if source is None:
            return await self.loader.load(self.runtime.store, partnership_stream(partnership_id), self.snapshots)
        return await self.loader.load(source, partnership_stream(partnership_id))

    async def read(self, partnership_id: str, principal: Principal):
        """The folded partnership, if the caller may see it (404 when it does not exist)."""
        loaded = await self.load(partnership_id)
        if isinstance(loaded.state, Unopened):
            raise NotFound(f"no partnership {partnership_id!r}", rule="the_partnership_must_be_open")
        may_read(principal, loaded.state)
        return loaded

    async def timeline(self, partnership_id: str, principal: Principal) -> list[Envelope]:
        """Every event of the partnership, all years, in stream order."""
        envelopes = await self.runtime.store.read_stream(partnership_stream(partnership_id))
        if not envelopes:
            raise NotFound(f"no partnership {partnership_id!r}", rule="the_partnership_must_be_open")
        loaded = await self.load(partnership_id)
        may_read(principal, loaded.state)
        return envelopes

    async def erase_person(self, person_id: str, reason: str = "request") -> Envelope:
        """RGPD erasure of a referent: their key goes and ``PersonErased`` is recorded
        (``eventkit.shredding.erase_person``); the states folded with their values in clear (this
        process's cache, the persisted snapshots) go too and are folded again on the next read."""
        erased = await shredding.erase_person(self.runtime.store, person_id, source="programmes", now=self.now(),
                                              reason=reason)
        self.runtime.wake_relay()
        self.loader.forget_all()
        await self.snapshots.clear()
        return erased

    def _decider(self, partnership_id: str, command: Command, context: Context):
        stream_id = partnership_stream(partnership_id)

        async def decide(a: Attempt) -> list[Write]:
            loaded = await a.load(stream_id, self.loader)
            if context.principal is not None:
                may_run(context.principal, loaded.state, command)
            return [Write.on(loaded, decide_partnership(command, loaded.state), academie_of(loaded.state, command))]

        return decide, stream_id

    async def _project(self, tx: Any, envelopes: Sequence[Envelope], events: Sequence[EventData]) -> None:
        await self.directory.project(tx, envelopes, events)

    async def execute(self, partnership_id: str, command: Command, context: Context) -> Result:
        decide, stream_id = self._decider(partnership_id, command, context)
        written = await self.runner.handle(context, decide, stream_id)
        return Result(partnership_id, written.version, written.events)

    async def list(self, principal: Principal, filters: Filters, limit: int, offset: int):
        """The partnerships the caller may see, narrowed by ``filters``."""
        return await self.directory.list(scoped(principal, filters), limit, offset)

    async def execute_in(self, tx: Any, partnership_id: str, command: Command, context: Context) -> list[Envelope]:
        """Decide and append inside a consumer's transaction (the kit's inbox row commits with it)."""
        decide, stream_id = self._decider(partnership_id, command, context)
        return (await self.runner.handle_in(tx, context, decide, stream_id)).events


def scoped(principal: Principal, filters: Filters) -> Filters:
    """The filters narrowed to the caller's scope (asking for another scope is a 403)."""
    if principal.is_global():
        return filters
    field = {"school": "uai", "partner": "partner_id", "academie": "academie"}[principal.role.value]
    asked = getattr(filters, field)
    if asked is not None and asked != principal.scope:
        raise AccessDenied("this listing is outside your scope")
    return Filters(**{**filters.__dict__, field: principal.scope})
