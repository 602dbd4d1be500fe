"""Bus subscribers: thin, each calls one policy."""

from __future__ import annotations

from candidatures.app.policies import when_a_partnership_stops_release_its_places, when_bilan_recorded_note_it


async def on_bilan_recorded(tx, envelope, event) -> None:
    """programmes.BilanRecorded → note the bilan on the partnership (renewal eligibility)."""
    await when_bilan_recorded_note_it(tx, envelope, event)


async def on_partnership_stopped(tx, envelope, event) -> None:
    """programmes.PartnershipEnded / ClassCancelled → give the offer its places back (year 1)."""
    await when_a_partnership_stops_release_its_places(tx, envelope, event)
