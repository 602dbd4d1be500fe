"""The bus entry point: candidatures' events, in the source's order, one consumer."""

from __future__ import annotations

from typing import Any

from jumelage_contracts import Envelope

from programmes.app.policies import CandidaturesPolicies

CONSUMER = "programmes-from-candidatures"
TYPES = ["PartnershipAttributed", "RenewalGranted", "RenewalDeclined", "CampaignOpened"]


def candidatures_handler(policies: CandidaturesPolicies):
    async def on_candidatures_event(tx: Any, envelope: Envelope, event: Any) -> None:
        await policies.on_event(tx, envelope, event)

    return on_candidatures_event
