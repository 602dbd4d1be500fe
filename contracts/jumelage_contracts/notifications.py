"""Events published by the notifications service.

One stream per reminder: ``reminder-<reminder_id>``. A reminder is planned by a rule from an
event of candidatures or programmes (``ReminderScheduled``), then either sent (``ReminderSent``),
cancelled before it fell due (``ReminderCancelled``), when the mail server refuses it, failed
(``ReminderFailed``, retried with backoff until ``final``), or, when its time and the grace its
rule allows both passed before it could go out, missed (``ReminderMissed``).

Delivery is at least once: a crash between the SMTP hand-off and the recording of
``ReminderSent`` sends the same message again after a restart. The ``dedup_key`` is carried in
the e-mail's ``Message-ID`` so a mail client or gateway can recognise the duplicate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from . import bounds as b
from .reference import Academie, Dispositif, SchoolYear
from .personal import personal
from .registry import EventData, event

SOURCE = "notifications"

RecipientRole = Literal[
    "school_referent",   # the referent named by the school for the partnership
    "partner_referent",  # the referent named by the partner structure
    "teacher",           # a class's teacher taking part in an action
    "school",            # the school's generic address (before referents are known)
    "academie",          # the académie's team (DAAC, rectorat) for escalations
]


class _Part(BaseModel):
    """Nested value of an event payload: immutable, tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Recipient(_Part):
    """Who receives a reminder, as known when it was planned (from programmes' events or the
    académie's configuration)."""

    role: RecipientRole
    person_id: str | None = Field(default=None, max_length=200,
                                  description="The referent_id when the recipient is a referent (erasure keys on it)")
    name: str = personal(min_length=1, max_length=300, subject="person_id")
    email: str = personal(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", subject="person_id")


class SubjectRef(_Part):
    """What the reminder is about: the ids of the campaign, partnership, action or meeting it
    concerns (whichever apply), so a consumer can link it back without asking."""

    academie: Academie
    dispositif: Dispositif | None = None
    school_year: SchoolYear | None = None
    campaign_id: str | None = None
    partnership_id: str | None = None
    action_id: str | None = None
    meeting_id: str | None = None
    uai: str | None = Field(default=None, description="The school concerned, when there is one")


@event(SOURCE)
class ReminderScheduled(EventData):
    """A rule planned a reminder: a durable timer that fires at ``due_at``."""

    type: Literal["ReminderScheduled"] = "ReminderScheduled"
    reminder_id: str = Field(description="Stable id derived from the dedup key (same plan, same id)")
    rule: str = Field(min_length=1, max_length=100, description="Name of the rule, e.g. 'action_j_minus_7'")
    dedup_key: str = Field(min_length=1, max_length=300,
                           description="What makes this reminder unique; carried in the e-mail Message-ID")
    due_at: b.Timestamp = Field(description="When the reminder falls due (timezone-aware)")
    recipients: list[Recipient] = Field(min_length=1)
    subject: SubjectRef
    channel: Literal["email"] = "email"
    title: str = Field(min_length=1, max_length=300, description="Short French subject line of the message")
    event_at: b.Timestamp | None = Field(default=None, description="The date the reminder is about (action, deadline...)")
    place: str | None = Field(default=None, max_length=500)
    caused_by: str | None = Field(default=None, description="Id of the event that planned it")


@event(SOURCE)
class ReminderSent(EventData):
    """The reminder was handed to the mail server (accepted for delivery). It may follow a
    ``ReminderCancelled`` of the same reminder: the cancellation came in while the mail was on the
    wire, and the mail went out; count the reminder as sent."""

    type: Literal["ReminderSent"] = "ReminderSent"
    reminder_id: str
    rule: str
    dedup_key: str
    message_id: str = Field(description="RFC 5322 Message-ID of the e-mail; contains the dedup key")
    sent_at: b.Timestamp
    recipients: list[Recipient] = Field(min_length=1)
    attempt: int = Field(default=1, ge=1)


@event(SOURCE)
class ReminderCancelled(EventData):
    """The reminder will not be sent: what it was about was rescheduled, cancelled or done."""

    type: Literal["ReminderCancelled"] = "ReminderCancelled"
    reminder_id: str
    rule: str
    dedup_key: str
    reason: str = Field(
        min_length=1, max_length=100,
        description="Why: 'rescheduled', 'cancelled', 'satisfied' (e.g. the meeting was scheduled), "
                    "'superseded' (dates changed by the académie), 'partnership_ended'",
    )
    cancelled_at: b.Timestamp


@event(SOURCE)
class ReminderFailed(EventData):
    """The mail server refused the reminder or could not be reached. ``final`` is false while a
    retry is planned at ``next_retry_at`` (bounded backoff); true when it gave up."""

    type: Literal["ReminderFailed"] = "ReminderFailed"
    reminder_id: str
    rule: str
    dedup_key: str
    error: str = personal(min_length=1, max_length=2000,
                          description="The mail server's answer; a refusal quotes the recipient's address")
    attempt: int = Field(ge=1)
    failed_at: b.Timestamp
    next_retry_at: b.Timestamp | None = None
    final: bool = False


@event(SOURCE)
class ReminderMissed(EventData):
    """The reminder was not sent and will not be: its time and the grace its rule allows (e.g. up
    to the action itself for a J-7 or J-1 reminder) passed before it could go out — the event that
    planned it reached notifications too late, or the service was down. Recorded so people (the
    reminders list) and reporting see it, instead of a reminder silently never sent."""

    type: Literal["ReminderMissed"] = "ReminderMissed"
    reminder_id: str = Field(min_length=1, max_length=60)
    rule: str = Field(min_length=1, max_length=100)
    dedup_key: str = Field(min_length=1, max_length=300)
    due_at: b.Timestamp = Field(description="When the reminder was due")
    late_until: b.Timestamp = Field(description="The end of its grace: the last moment it could still have gone out")
    reason: str = Field(
        min_length=1, max_length=100,
        description="'arrived_after_its_grace' (the event that plans it reached notifications after "
                    "the grace ended), 'not_sent_before_its_grace' (it was planned, but not sent in time)",
    )
    missed_at: b.Timestamp
    subject: SubjectRef | None = None
    title: str | None = Field(default=None, max_length=300)
    caused_by: str | None = Field(default=None, max_length=100, description="Id of the event that planned it")


def retention_stream(partnership_id: str) -> str:
    """The stream id of a partnership's retention timer in the notifications store."""
    return f"retention-{partnership_id}"


@event(SOURCE)
class RetentionExpired(EventData):
    """The retention of a partnership's people ran out (RGPD, issue 16): ``retention_years`` after
    ``retained_from`` — the end of its last school year (31 August, in the académie), or when it
    ended if that came later. Published once per partnership and last year (stream
    ``retention-<partnership_id>``); programmes, which owns the people, erases those whose every
    partnership is past its retention. A renewal after it opens a later year and a new retention."""

    type: Literal["RetentionExpired"] = "RetentionExpired"
    partnership_id: str = Field(min_length=1, max_length=200)
    dispositif: Dispositif
    school_year: SchoolYear = Field(description="The partnership's last school year the retention counted from")
    year_index: int = Field(ge=1, le=10, description="Its index: programmes ignores an expiry a renewal overtook")
    retained_from: b.Timestamp = Field(description="When the retention started: the end of that school year, "
                                                   "or the partnership's end if later")
    retention_years: int = Field(ge=0, le=100, description="The dispositif's retention in force when it was planned")
    due_at: b.Timestamp = Field(description="When the retention ran out")
    expired_at: b.Timestamp = Field(description="When the timer fired (due_at, or later if the service was down)")


NOTIFICATIONS_EVENTS = (ReminderScheduled, ReminderSent, ReminderCancelled, ReminderFailed, ReminderMissed,
                        RetentionExpired)
