"""Policies: what programmes does when candidatures tells it something.

Each runs inside the consumer's store transaction (the kit writes the inbox row in it, so a
redelivered message changes nothing) and is idempotent on its own too: the decider opens a year
only once, so the same attribution published twice (two event ids) still opens nothing twice.
"""

from __future__ import annotations

from typing import Any

from eventkit.logging import get_logger
from jumelage_contracts import Envelope
from jumelage_contracts.candidatures import (
    CampaignOpened,
    ClassEntry,
    PartnershipAttributed,
    RenewalDeclined,
    RenewalGranted,
)
from jumelage_contracts.programmes import ProgrammeClass

from programmes.app.service import Context, PartnershipService
from programmes.domain import commands as c
from programmes.domain.errors import DomainError

log = get_logger("programmes")


def _classes(entries: list[ClassEntry]) -> tuple[ProgrammeClass, ...]:
    return tuple(ProgrammeClass(class_id=e.class_id, label=e.label, level=e.level, pupils=e.pupils,
                                objective=e.objective) for e in entries)


def open_year_command(event: PartnershipAttributed | RenewalGranted, envelope: Envelope, now) -> c.OpenYear:
    attributed = isinstance(event, PartnershipAttributed)
    return c.OpenYear(
        partnership_id=event.partnership_id, candidature_id=event.candidature_id, dispositif=event.dispositif,
        school_year=event.school_year, year_index=event.year_index, school=event.school,
        classes=_classes(event.classes), calendar=event.calendar,
        opened_by="attribution" if attributed else "renewal", now=now, tier=event.tier, partner=event.partner,
        campaign_id=event.campaign_id if attributed else None, offer_id=event.offer_id if attributed else None,
        caused_by=str(envelope.id), steps_reached=event.concertation if attributed else None,
        associated_schools=tuple(event.associated_schools) if attributed else (), organiser=event.organiser,
    )


def _context(envelope: Envelope) -> Context:
    return Context(principal=None, correlation_id=envelope.correlation_id, causation_id=envelope.id)


class CandidaturesPolicies:
    def __init__(self, service: PartnershipService) -> None:
        self.service = service

    async def when_partnership_attributed_open_year_one(self, tx: Any, envelope: Envelope,
                                                        event: PartnershipAttributed) -> None:
        command = open_year_command(event, envelope, self.service.now())
        await self._run(tx, envelope, event.partnership_id, command)

    async def when_renewal_granted_open_the_next_year(self, tx: Any, envelope: Envelope,
                                                      event: RenewalGranted) -> None:
        command = open_year_command(event, envelope, self.service.now())
        await self._run(tx, envelope, event.partnership_id, command)

    async def when_renewal_declined_end_the_partnership(self, tx: Any, envelope: Envelope,
                                                        event: RenewalDeclined) -> None:
        command = c.DeclineRenewal(year_index=event.year_index, reason=event.reason, now=self.service.now())
        await self._run(tx, envelope, event.partnership_id, command)

    async def _run(self, tx: Any, envelope: Envelope, partnership_id: str, command: c.Command) -> None:
        try:
            stored = await self.service.execute_in(tx, partnership_id, command, _context(envelope))
        except DomainError as exc:
            # The news contradicts the partnership (e.g. a renewal for an ended one): retrying cannot
            # help and dead-lettering would stop nothing, so it is logged loudly and acknowledged.
            log.warning("candidatures_event_refused", partnership_id=partnership_id, type=envelope.type,
                        event_id=str(envelope.id), rule=exc.rule, error=str(exc))
            return
        log.info("candidatures_event_applied", partnership_id=partnership_id, type=envelope.type,
                 event_id=str(envelope.id), appended=[e.type for e in stored])

    async def on_event(self, tx: Any, envelope: Envelope, event: Any) -> None:
        """The one consumer handler: dispatches by type (a consumer keeps the source's order)."""
        if isinstance(event, PartnershipAttributed):
            await self.when_partnership_attributed_open_year_one(tx, envelope, event)
        elif isinstance(event, RenewalGranted):
            await self.when_renewal_granted_open_the_next_year(tx, envelope, event)
        elif isinstance(event, RenewalDeclined):
            await self.when_renewal_declined_end_the_partnership(tx, envelope, event)
        elif isinstance(event, CampaignOpened):
            log.info("campaign_opened_seen", campaign_id=event.campaign_id, academie=event.academie.value,
                     dispositif=event.dispositif.value, school_year=event.school_year,
                     correlation_id=str(envelope.correlation_id))
