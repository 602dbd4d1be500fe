"""Policies: what the candidatures service does when another service's event arrives."""

from __future__ import annotations

from eventkit.logging import get_logger
from jumelage_contracts import SYSTEM, Envelope, parse_event, to_envelope

from jumelage_contracts.candidatures import PartnershipAttributed

from candidatures.adapters import read_model
from candidatures.domain import offer, release, renewal

from .commands import candidature_stream, offer_stream

log = get_logger("candidatures.policies")


async def when_bilan_recorded_note_it(tx, envelope: Envelope, event) -> None:
    """Programmes recorded a bilan: note it on the partnership, so the school may ask for renewal
    (only if the bilan wishes to continue). Runs in the consumer's transaction with its inbox row."""
    candidature_id = await read_model.candidature_of_partnership(tx.connection, event.partnership_id)
    if candidature_id is None:
        log.warning("bilan_for_unknown_partnership", partnership_id=event.partnership_id, event_id=str(envelope.id))
        return
    stream = candidature_stream(candidature_id)
    stored = await tx.read_stream(stream)
    version = stored[-1].stream_version if stored else 0
    state = renewal.fold([parse_event(e) for e in stored])
    command = renewal.NoteBilan(event.school_year, event.year_index, event.wish_to_continue, str(envelope.id),
                                envelope.occurred_at)
    events = renewal.decide(command, state)
    if not events:
        return
    envelopes = [to_envelope(data, stream_id=stream, occurred_at=envelope.occurred_at,
                             correlation_id=envelope.correlation_id, causation_id=envelope.id, actor=SYSTEM,
                             academie=envelope.academie) for data in events]
    result = await tx.append(stream, envelopes, expected_version=version)
    for env, data in zip(result.events, events):
        await read_model.project(tx.connection, env, data)


async def when_a_partnership_stops_release_its_places(tx, envelope: Envelope, event) -> None:
    """Programmes ended a partnership in its first year (or a class left it): the classes it held
    on its offer come back to the offer (``OfferPlacesReleased``), so a late attribution can use
    them. Runs in the consumer's transaction with its inbox row; a redelivery finds the classes
    already released and appends nothing."""
    candidature_id = await read_model.candidature_of_partnership(tx.connection, event.partnership_id)
    if candidature_id is None:
        log.warning("end_for_unknown_partnership", partnership_id=event.partnership_id, event_id=str(envelope.id))
        return
    stored = await tx.read_stream(candidature_stream(candidature_id))
    attributed = next((e for e in map(parse_event, stored) if isinstance(e, PartnershipAttributed)), None)
    if attributed is None:
        return
    command = release.places_freed(attributed, event, envelope.occurred_at)
    if command is None:
        return
    stream = offer_stream(command.offer_id)
    stored = await tx.read_stream(stream)
    version = stored[-1].stream_version if stored else 0
    events = release.decide(command, offer.fold([parse_event(e) for e in stored]))
    if not events:
        return
    envelopes = [to_envelope(data, stream_id=stream, occurred_at=envelope.occurred_at,
                             correlation_id=envelope.correlation_id, causation_id=envelope.id, actor=SYSTEM,
                             academie=attributed.academie.value) for data in events]
    result = await tx.append(stream, envelopes, expected_version=version)
    for env, data in zip(result.events, events):
        await read_model.project(tx.connection, env, data)
