"""Effects before causes. Notifications reads two streams (candidatures, programmes) that nothing
orders against each other, and a consumer that crashed gets its unacknowledged messages back
after later ones: an ActionCancelled can reach us before its ActionScheduled, an ActionScheduled
before the PartnershipAttributed that tells us whose action it is.

Two answers, chosen per event:

- **hold** (``missing_cause``): an event that needs something not known yet (the action it
  cancels, the partnership it belongs to) is parked in ``notif_parked``, in the consumer's
  transaction, and applied in the transaction of the event that brings its cause
  (``provided_by``), in the order the held events came. Nothing is dropped: a held event stays
  listed (the ``jumelage_notifications_events_held_now`` gauge) until its cause comes.
- **settle** (``satisfied_facts``): facts that make reminders pointless whatever order they
  come in (a candidature submitted or withdrawn, the bilan recorded, a work meeting on the
  calendar, the partnership ended) are remembered, so an event planning those reminders late
  plans nothing stale. Used where the cause may never come (a candidature submitted without a
  draft) or where a cross-stream order cannot be told from the events.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from jumelage_contracts import EventData
from jumelage_contracts import candidatures as c
from jumelage_contracts import programmes as p
from jumelage_contracts.reference import next_school_year

from ..adapters import db
from .facts import item_uid


def campaign_key(campaign_id: str) -> str:
    return f"campaign:{campaign_id}"


def partnership_key(partnership_id: str, school_year: str | None = None) -> str:
    return f"partnership:{partnership_id}" + (f":{school_year}" if school_year else "")


def candidature_key(candidature_id: str) -> str:
    return f"candidature:{candidature_id}"


def item_key(kind: str, partnership_id: str, ref: str) -> str:
    return f"{kind}:{partnership_id}/{ref}"


async def missing_cause(conn: AsyncConnection, event: EventData) -> str | None:
    """The key of the first cause ``event`` needs and notifications does not know yet; None
    when it can be applied now. Each cause is locked before it is looked at (see ``lock``)."""
    if isinstance(event, (c.CampaignClosed, c.CandidatureDrafted, c.CandidatureSubmitted,
                          c.CandidatureResubmitted, c.CandidatureWithdrawn)):
        key = campaign_key(event.campaign_id)
        await lock(conn, key)
        return None if await db.campaign(conn, event.campaign_id) else key
    if isinstance(event, (c.CandidatureRejected, c.CandidatureReturnedForCorrection)):
        # A decision names the candidature only: who applied comes from its content event.
        key = campaign_key(event.campaign_id)
        await lock(conn, key)
        if await db.campaign(conn, event.campaign_id) is None:
            return key
        key = candidature_key(event.candidature_id)
        await lock(conn, key)
        return None if await db.candidature(conn, event.candidature_id) else key
    if isinstance(event, (c.RenewalRequested, c.RenewalDeclined, p.PartnershipEnded)):
        key = partnership_key(event.partnership_id)
        await lock(conn, key)
        return None if await db.partnership(conn, event.partnership_id) else key
    if isinstance(event, (p.ActionScheduled, p.MeetingScheduled, p.BilanRecorded, p.ActionRescheduled,
                          p.ActionCancelled, p.MeetingRescheduled, p.MeetingCancelled, p.ClassCancelled)):
        key = partnership_key(event.partnership_id, event.school_year)
        await lock(conn, key)
        if await db.partnership(conn, event.partnership_id, event.school_year) is None:
            return key
        for kind, ref in _items_needed(event):
            key = item_key(kind, event.partnership_id, ref)
            await lock(conn, key)
            if await db.calendar_item(conn, item_uid(kind, event.partnership_id, ref)) is None:
                return key
    return None


async def lock(conn: AsyncConnection, key: str) -> None:
    """Serialise "is the cause known? no: hold the effect" against "the cause is written: release
    what waits for it" when they run in two consumers' transactions at once (candidatures' and
    programmes'): without it, each could miss the other's uncommitted row and the effect would
    wait forever. A transaction-scoped advisory lock on PostgreSQL (the one that comes second
    sees the first's commit); SQLite has a single writer already."""
    if conn.dialect.name == "postgresql":
        lock_id = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def _items_needed(event: EventData) -> list[tuple[str, str]]:
    """The calendar items an event changes: they must have been scheduled first."""
    if isinstance(event, (p.ActionRescheduled, p.ActionCancelled)):
        return [("action", event.action_id)]
    if isinstance(event, (p.MeetingRescheduled, p.MeetingCancelled)):
        return [("meeting", event.meeting_id)]
    if isinstance(event, p.ClassCancelled):
        return [("action", action_id) for action_id in event.cancelled_action_ids]
    return []


def provided_by(event: EventData) -> list[str]:
    """The causes ``event`` brings: events held for them can now be applied."""
    if isinstance(event, c.CampaignOpened):
        return [campaign_key(event.campaign_id)]
    if isinstance(event, (c.CandidatureDrafted, c.CandidatureSubmitted, c.CandidatureAmended,
                          c.CandidatureResubmitted)):
        return [candidature_key(event.candidature_id)]
    if isinstance(event, (c.PartnershipAttributed, c.RenewalGranted, p.ProgrammeYearOpened)):
        return [partnership_key(event.partnership_id, event.school_year), partnership_key(event.partnership_id)]
    if isinstance(event, p.ActionScheduled):
        return [item_key("action", event.partnership_id, event.action_id)]
    if isinstance(event, p.MeetingScheduled):
        return [item_key("meeting", event.partnership_id, event.meeting_id)]
    return []


# -- settled facts -----------------------------------------------------------------------------------

def candidature_settled_key(candidature_id: str) -> str:
    return f"candidature_settled:{candidature_id}"


def bilan_key(partnership_id: str, school_year: str) -> str:
    return f"bilan_recorded:{partnership_id}:{school_year}"


def renewal_key(partnership_id: str, requested_year: str) -> str:
    return f"renewal_requested:{partnership_id}:{requested_year}"


async def remember(conn: AsyncConnection, envelope: Any, event: EventData) -> None:
    """Record the settling facts ``event`` carries (in the consumer's transaction)."""
    key = None
    if isinstance(event, (c.CandidatureSubmitted, c.CandidatureResubmitted, c.CandidatureWithdrawn)):
        key = candidature_settled_key(event.candidature_id)
    elif isinstance(event, p.BilanRecorded):
        key = bilan_key(event.partnership_id, event.school_year)
    elif isinstance(event, c.RenewalRequested):
        key = renewal_key(event.partnership_id, event.school_year)
    if key is not None:
        await db.settle(conn, key, str(envelope.id))


# The triggers that plan a partnership year's reminders (work meeting, bilan, renewal): only they
# need the year's facts looked up; an action or meeting only needs to know the partnership lives.
PLANS_YEAR_REMINDERS = frozenset({"partnership_attributed", "renewal_granted", "work_meeting_missing",
                                  "bilan_recorded"})


async def satisfied_facts(conn: AsyncConnection, partnership_id: str, school_year: str | None,
                          kinds: frozenset[str] = PLANS_YEAR_REMINDERS) -> frozenset[str]:
    """Trigger kinds already true about a partnership year (see ``Trigger.satisfied``), for a
    trigger of ``kinds``."""
    found: set[str] = set()
    known = await db.partnership(conn, partnership_id, school_year)
    if known is not None and known.ended:
        found.add("partnership_ended")
    if school_year and kinds & PLANS_YEAR_REMINDERS:
        if await db.work_meetings_left(conn, partnership_id, school_year, but=""):
            found.add("work_meeting_scheduled")
        if await db.is_settled(conn, bilan_key(partnership_id, school_year)):
            found.add("bilan_recorded")
        try:
            following = next_school_year(school_year)
        except ValueError:
            following = None
        if following and await db.is_settled(conn, renewal_key(partnership_id, following)):
            found.add("renewal_requested")
    return frozenset(found)
