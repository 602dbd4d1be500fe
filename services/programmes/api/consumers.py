"""The bus entry points: candidatures' events, in the source's order, one consumer; and
notifications' retention expiries (RGPD), another."""

from __future__ import annotations

from typing import Any

from jumelage_contracts import Envelope

from programmes.app.policies import CandidaturesPolicies
from programmes.app.retention import RetentionPolicies

CONSUMER = "programmes-from-candidatures"
TYPES = ["PartnershipAttributed", "RenewalGranted", "RenewalDeclined", "CampaignOpened"]
RETENTION_CONSUMER = "programmes-from-notifications"
RETENTION_TYPES = ["RetentionExpired"]


def candidatures_handler(policies: CandidaturesPolicies):
    async def on_candidatures_event(tx: Any, envelope: Envelope, event: Any) -> None:
        await policies.on_event(tx, envelope, event)

    return on_candidatures_event


def retention_handler(policies: RetentionPolicies):
    async def on_notifications_event(tx: Any, envelope: Envelope, event: Any) -> None:
        await policies.on_event(tx, envelope, event)

    return on_notifications_event
