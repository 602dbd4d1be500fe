"""Retention (RGPD, issue 16): notifications' ``RetentionExpired`` → the people it frees erased.

Runs in the consumer's transaction (the kit's inbox row and position commit with it): the
partnership's expiry is recorded (``prog_partnerships.retention_expired_year``), the decision is
``domain.retention.decide`` on what the read tables say of the partnership's people, and each
person freed is erased as ``jumelage erase`` does (key deleted, ``PersonErased`` recorded with
reason ``retention`` and an id derived from the person, so it is recorded once). A redelivery is
stopped by the inbox; the same expiry under another id, or a person erased already, decides
nothing new.
"""

from __future__ import annotations

from typing import Any

from eventkit import shredding
from eventkit.logging import get_logger
from jumelage_contracts import Envelope
from jumelage_contracts.notifications import RetentionExpired

from programmes.adapters.snapshots import snapshots
from programmes.app.service import PartnershipService
from programmes.domain import retention

log = get_logger("programmes")


class RetentionPolicies:
    def __init__(self, service: PartnershipService) -> None:
        self.service = service
        self._forget_after_commit = False

    async def when_retention_expired_erase_its_people(self, tx: Any, envelope: Envelope,
                                                      event: RetentionExpired) -> None:
        directory, keyring = self.service.directory, self.service.runtime.store.keyring
        state = await directory.retention_state(tx, event.partnership_id)
        people = set(state.designations)
        state = retention.RetentionState(state.partnerships, state.designations,
                                         frozenset(await shredding.erased_subjects(tx.connection, keyring, people)))
        command = retention.ExpireRetention(event.partnership_id, event.year_index, self.service.now())
        if retention.an_expiry_overtaken_by_a_renewal_changes_nothing(state, command):
            known = state.partnerships.get(event.partnership_id)
            log.info("retention_expiry_ignored", partnership_id=event.partnership_id, year_index=event.year_index,
                     event_id=str(envelope.id),
                     why="unknown partnership" if known is None else f"year {known.year_index} opened since")
            return
        erasures = retention.decide(command, state)
        await directory.record_retention_expired(tx, event.partnership_id, event.year_index)
        for erased in erasures:
            await shredding.erase_person_in(tx, keyring, erased.person_id, source="programmes", now=erased.erased_at,
                                            reason="retention", correlation_id=envelope.correlation_id,
                                            causation_id=envelope.id)
        kept = sorted(people - {e.person_id for e in erasures} - state.erased)
        log.info("retention_expired", partnership_id=event.partnership_id, year_index=event.year_index,
                 erased=[e.person_id for e in erasures], kept=kept)
        if erasures:
            # folded states hold the people in clear: the persisted ones go in this transaction,
            # this process's cache now and again once the erasure is committed
            if getattr(tx, "connection", None) is not None and hasattr(self.service.snapshots, "engine"):
                await tx.connection.execute(snapshots.delete())
            else:
                await self.service.snapshots.clear()
            self.service.loader.forget_all()
            self._forget_after_commit = True

    def after_commit(self) -> None:
        if self._forget_after_commit:
            self._forget_after_commit = False
            self.service.loader.forget_all()

    async def on_event(self, tx: Any, envelope: Envelope, event: Any) -> None:
        if isinstance(event, RetentionExpired):
            await self.when_retention_expired_erase_its_people(tx, envelope, event)
