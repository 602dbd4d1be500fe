"""What notifications learns from candidatures' and programmes' events (campaigns, partnerships,
referents, calendar items) and the triggers the rules react to.

``learn`` writes the facts in the consumer's transaction; ``triggers_of`` turns the event into
the normalised triggers of :mod:`notifications.domain.planning`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Awaitable, Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from jumelage_contracts import Envelope, EventData
from jumelage_contracts import candidatures as c
from jumelage_contracts import programmes as p
from jumelage_contracts.reference import is_last_allowed_year, school_year_end

from ..adapters import db
from ..domain.planning import Trigger, timezone_of

CANDIDATURES_TYPES = ["CampaignOpened", "CampaignClosed", "CandidatureDrafted", "CandidatureSubmitted",
                      "CandidatureAmended", "CandidatureResubmitted", "CandidatureWithdrawn",
                      "CandidatureReturnedForCorrection", "CandidatureRejected", "PartnershipAttributed",
                      "RenewalRequested", "RenewalGranted", "RenewalDeclined"]
PROGRAMMES_TYPES = ["ProgrammeYearOpened", "ReferentDesignated", "MeetingScheduled", "MeetingRescheduled",
                    "MeetingCancelled", "ActionScheduled", "ActionRescheduled", "ActionCancelled", "ClassCancelled",
                    "BilanRecorded", "PartnershipEnded", "PersonErased"]

UID_DOMAIN = "jumelage.notifications"


def item_uid(kind: str, partnership_id: str, ref: str) -> str:
    """A calendar item's stable UID. Action and meeting ids are unique within their partnership
    only (clients choose them), so the partnership is part of the UID."""
    return f"{kind}-{partnership_id}.{ref}@{UID_DOMAIN}"
MEETING_LABELS = {"work": "réunion de travail", "follow_up": "réunion de suivi", "bilan": "réunion de bilan",
                  "rencontre": "rencontre"}


def decision_instant(value: datetime) -> datetime:
    """When a decision was taken, as its mails' anchor: UTC to the second, so the instant read
    back from the database (a partner told when its referent is named) makes the same dedup key
    as the one the decision's own event carried."""
    return value.astimezone(timezone.utc).replace(microsecond=0)


def classes_summary(classes: list[Any]) -> str:
    """``2 classes, 50 élèves : CM1 A (24 élèves), CM2 B (26 élèves)``: what was attributed."""
    pupils = sum(entry.pupils for entry in classes)
    listed = ", ".join(f"{entry.label} ({entry.pupils} élèves)" for entry in classes)
    count = f"{len(classes)} classe{'s' if len(classes) > 1 else ''}"
    return f"{count}, {pupils} élèves : {listed}"[:2000]


def calendar_dates(calendar: dict[str, Any], school_year: str | None) -> dict[str, datetime | date]:
    """The anchors a partnership's rules count from, from the campaign calendar (JSON form)."""
    dates: dict[str, datetime | date] = {}
    windows = {"work_meeting_window": calendar.get("work_meeting_window"), "bilan_window": calendar.get("bilan_window")}
    for name, window in windows.items():
        if window:
            dates[f"{name}_start"] = db.as_date(window["start"])
            dates[f"{name}_end"] = db.as_date(window["end"])
    if "work_meeting_window_end" not in dates and school_year:
        # Without a window in the calendar the work meeting is due by 31 October.
        dates["work_meeting_window_end"] = date(int(school_year[:4]), 10, 31)
    for name in ("submission_deadline", "renewal_deadline"):
        if calendar.get(name):
            value = calendar[name]
            dates[name] = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if school_year:
        dates["school_year_end"] = school_year_end(school_year)
    return dates


async def learn(conn: AsyncConnection, envelope: Envelope, event: EventData, now: datetime) -> None:
    learner = _LEARNERS.get(type(event))
    if learner is not None:
        await learner(conn, envelope, event, now)


async def triggers_of(conn: AsyncConnection, envelope: Envelope, event: EventData) -> list[Trigger]:
    translator = _TRANSLATORS.get(type(event))
    return [] if translator is None else await translator(conn, envelope, event)


# -- learning ----------------------------------------------------------------------------------------

async def _campaign_opened(conn, envelope, e: c.CampaignOpened, now) -> None:
    await db.upsert(conn, db.campaigns, {
        "campaign_id": e.campaign_id, "academie": str(e.academie), "dispositif": str(e.dispositif),
        "school_year": e.school_year, "title": e.title, "calendar": e.calendar.model_dump(mode="json"), "open": True,
    }, ["campaign_id"])


async def _campaign_closed(conn, envelope, e: c.CampaignClosed, now) -> None:
    await conn.execute(update(db.campaigns).where(db.campaigns.c.campaign_id == e.campaign_id).values(open=False))


async def _candidature_known(conn, envelope, e, now) -> None:
    """Who applied: a decision (rejection, return for correction) names only the candidature."""
    # An ACM organiser's candidature (plan mercredi) may name no school: no UAI, the organiser's name.
    school = e.school
    await db.upsert(conn, db.candidatures, {
        "candidature_id": e.candidature_id, "campaign_id": e.campaign_id, "uai": school.uai if school else None,
        "school_name": school.name if school else e.organiser.name, "academie": str(e.academie),
        "contact_email": organiser_email(e)}, ["candidature_id"])


def organiser_email(e) -> str | None:
    """The ACM organiser's own contact e-mail: its decisions and reminders go there."""
    organiser = getattr(e, "organiser", None)
    return organiser.email if organiser is not None else None


async def _candidature(conn, envelope, e: c.CandidatureDrafted, now) -> None:
    await _candidature_known(conn, envelope, e, now)
    campaign = await db.campaign(conn, e.campaign_id)
    # A CNR campaign has no submission deadline (seed 003): no deadline on the school's calendar.
    # An ACM organiser with no school has no school calendar to put the deadline on.
    if campaign is not None and campaign.calendar.get("submission_deadline") and campaign.dispositif != "concertation" \
            and e.school is not None:
        deadline = calendar_dates(campaign.calendar, None)["submission_deadline"]
        await db.save_calendar_item(
            conn, now, uid=f"deadline-submission-{e.campaign_id}-{e.school.uai}@{UID_DOMAIN}",
            partnership_id=None, campaign_id=e.campaign_id, school_year=campaign.school_year,
            academie=campaign.academie, uai=e.school.uai, kind="deadline",
            summary=f"Date limite de candidature : {campaign.title}"[:300], description=None,
            starts_at=deadline, ends_at=None, all_day=False, place=None, status="CONFIRMED")


async def _partnership_year(conn, envelope, e, now) -> None:
    calendar = e.calendar.model_dump(mode="json")
    # Programmes' PartnershipEnded may have come (through ProgrammeYearOpened) before
    # candidatures' PartnershipAttributed: the year stays ended.
    known = await db.partnership(conn, e.partnership_id, e.school_year)
    values = {
        "partnership_id": e.partnership_id, "school_year": e.school_year, "year_index": e.year_index,
        "academie": str(e.academie), "dispositif": str(e.dispositif),
        "campaign_id": getattr(e, "campaign_id", None), "uai": e.uai, "school_name": e.school_side_name,
        "contact_email": organiser_email(e) or (known.contact_email if known is not None else None),
        "organiser_id": e.organiser.partner_id if e.organiser is not None else (known.organiser_id if known else None),
        "partner_id": e.partner.partner_id if e.partner else None,
        "partner_name": e.partner.name if e.partner else None, "calendar": calendar,
        "ended": bool(known is not None and known.ended),
    }
    if isinstance(e, (c.PartnershipAttributed, c.RenewalGranted)):  # the decision (programmes' copy is not one)
        values.update(decided_at=decision_instant(envelope.occurred_at), detail=classes_summary(e.classes))
    await db.upsert(conn, db.partnerships, values, ["partnership_id", "school_year"])
    # The feed exists from the start, so firing a reminder that links to it only reads.
    await db.feed_token(conn, "partnership", e.partnership_id, now)
    dates = calendar_dates(calendar, e.school_year)
    deadlines = [
        ("work-meeting", "Date limite de la réunion de travail", dates.get("work_meeting_window_end")),
        ("bilan", "Fin de la période de bilan", dates.get("bilan_window_end")),
        ("renewal", "Date limite de demande de renouvellement", dates.get("renewal_deadline")),
    ]
    window = (dates.get("work_meeting_window_start"), dates.get("work_meeting_window_end"))
    if window[0] is not None and window[1] is not None:
        # The date the attribution sets: the work meeting is held within this window.
        tz = timezone_of(str(e.academie))
        await db.save_calendar_item(
            conn, now, uid=f"window-work-meeting-{e.partnership_id}-{e.school_year}@{UID_DOMAIN}",
            partnership_id=e.partnership_id, campaign_id=None, school_year=e.school_year,
            academie=str(e.academie), uai=e.uai, kind="window",
            summary=f"Période de la réunion de travail ({e.school_side_name})"[:300],
            description="La réunion de travail entre l'école et la structure partenaire se tient dans cette "
                        "période : elle construit le programme d'actions de chaque classe.",
            starts_at=datetime.combine(window[0], time(0), tzinfo=tz),
            ends_at=datetime.combine(window[1] + timedelta(days=1), time(0), tzinfo=tz),
            all_day=True, place=None, status="CONFIRMED")
    for slug, summary, when in deadlines:
        if when is None:
            continue
        all_day = not isinstance(when, datetime)
        starts = when if not all_day else datetime.combine(when, time(0), tzinfo=timezone_of(str(e.academie)))
        await db.save_calendar_item(
            conn, now, uid=f"deadline-{slug}-{e.partnership_id}-{e.school_year}@{UID_DOMAIN}",
            partnership_id=e.partnership_id, campaign_id=None, school_year=e.school_year,
            academie=str(e.academie), uai=e.uai, kind="deadline",
            summary=f"{summary} ({e.school_side_name})"[:300], description=None, starts_at=starts,
            ends_at=None, all_day=all_day, place=None, status="CONFIRMED")


async def _referent(conn, envelope, e: p.ReferentDesignated, now) -> None:
    if e.replaces:
        await conn.execute(update(db.referents).where(
            db.referents.c.partnership_id == e.partnership_id, db.referents.c.school_year == e.school_year,
            db.referents.c.referent_id == e.replaces).values(active=False))
    await db.upsert(conn, db.referents, {
        "partnership_id": e.partnership_id, "school_year": e.school_year, "referent_id": e.referent_id,
        "side": e.side.value, "role": e.role.value, "name": e.name, "email": e.email, "active": True,
    }, ["partnership_id", "school_year", "referent_id"])


async def _item_of(conn, e, uid: str, kind: str, summary: str | None, starts: datetime | None,
                   minutes: int | None, place: str | None, status: str, now: datetime,
                   meeting_kind: str | None = None) -> None:
    current = await db.calendar_item(conn, uid)
    partnership = await db.partnership(conn, e.partnership_id, e.school_year)
    if current is None and (starts is None or partnership is None):
        return
    values = {"uid": uid, "status": status}
    if current is None:
        values.update(partnership_id=e.partnership_id, campaign_id=None, school_year=e.school_year,
                      academie=partnership.academie, uai=partnership.uai, kind=kind, description=None, all_day=False)
    if summary is not None:
        values["summary"] = summary[:300]
    if starts is not None:
        values["starts_at"] = starts
        values["ends_at"] = starts + timedelta(minutes=minutes or 60)
    if place is not None:
        values["place"] = place
    if meeting_kind is not None:
        values["meeting_kind"] = meeting_kind
    await db.save_calendar_item(conn, now, **values)


async def _meeting(conn, envelope, e, now) -> None:
    cancelled = isinstance(e, p.MeetingCancelled)
    title = getattr(e, "title", None) or MEETING_LABELS.get(e.kind.value, "réunion")
    summary = None if isinstance(e, p.MeetingRescheduled) or cancelled else title.capitalize()
    await _item_of(conn, e, item_uid("meeting", e.partnership_id, e.meeting_id), "meeting", summary,
                   getattr(e, "starts_at", None), getattr(e, "duration_minutes", None), getattr(e, "place", None),
                   "CANCELLED" if cancelled else "CONFIRMED", now, meeting_kind=e.kind.value)


async def _action(conn, envelope, e, now) -> None:
    cancelled = isinstance(e, p.ActionCancelled)
    await _item_of(conn, e, item_uid("action", e.partnership_id, e.action_id), "action", getattr(e, "title", None),
                   getattr(e, "starts_at", None), getattr(e, "duration_minutes", None), getattr(e, "place", None),
                   "CANCELLED" if cancelled else "CONFIRMED", now)


async def _class_cancelled(conn, envelope, e: p.ClassCancelled, now) -> None:
    for action_id in e.cancelled_action_ids:
        await _item_of(conn, e, item_uid("action", e.partnership_id, action_id), "action", None, None, None, None, "CANCELLED", now)


async def _ended(conn, envelope, e: p.PartnershipEnded, now) -> None:
    await conn.execute(update(db.partnerships).where(db.partnerships.c.partnership_id == e.partnership_id).values(ended=True))


_LEARNERS: dict[type, Callable[..., Awaitable[None]]] = {
    c.CampaignOpened: _campaign_opened, c.CampaignClosed: _campaign_closed,
    c.CandidatureDrafted: _candidature, c.CandidatureSubmitted: _candidature_known,
    c.CandidatureAmended: _candidature_known, c.CandidatureResubmitted: _candidature_known,
    c.PartnershipAttributed: _partnership_year, c.RenewalGranted: _partnership_year,
    p.ProgrammeYearOpened: _partnership_year,
    p.ReferentDesignated: _referent,
    p.MeetingScheduled: _meeting, p.MeetingRescheduled: _meeting, p.MeetingCancelled: _meeting,
    p.ActionScheduled: _action, p.ActionRescheduled: _action, p.ActionCancelled: _action,
    p.ClassCancelled: _class_cancelled, p.PartnershipEnded: _ended,
}


# -- triggers ----------------------------------------------------------------------------------------

def _kinds(*names: str) -> frozenset[str]:
    return frozenset(names)


async def _t_campaign_opened(conn, envelope, e: c.CampaignOpened) -> list[Trigger]:
    return [Trigger(kinds=_kinds("campaign_opened"), academie=str(e.academie), dispositif=str(e.dispositif),
                    school_year=e.school_year, campaign_id=e.campaign_id,
                    dates=calendar_dates(e.calendar.model_dump(mode="json"), None),
                    facts={"title": e.title}, event_id=str(envelope.id))]


async def _t_campaign_closed(conn, envelope, e: c.CampaignClosed) -> list[Trigger]:
    return [Trigger(kinds=_kinds("campaign_closed"), academie=str(e.academie), campaign_id=e.campaign_id,
                    event_id=str(envelope.id))]


async def _t_candidature(conn, envelope, e) -> list[Trigger]:
    kind = {c.CandidatureDrafted: "candidature_drafted", c.CandidatureWithdrawn: "candidature_withdrawn"}.get(
        type(e), "candidature_submitted")
    known = await db.candidature(conn, e.candidature_id)
    campaign = await db.campaign(conn, e.campaign_id)
    if known is None or campaign is None:
        return []
    return [Trigger(kinds=_kinds(kind), academie=known.academie, dispositif=campaign.dispositif,
                    school_year=campaign.school_year, campaign_id=e.campaign_id, candidature_id=e.candidature_id,
                    uai=known.uai, dates=calendar_dates(campaign.calendar, None),
                    facts={"title": campaign.title, "school_name": known.school_name}, event_id=str(envelope.id))]


def pair(school_name: str, partner_name: str | None) -> str:
    """How a subject line names a partnership: « école / partenaire », or the school alone when
    there is no partner structure (a CNR project)."""
    return f"{school_name} / {partner_name}" if partner_name else school_name


async def _t_attributed(conn, envelope, e) -> list[Trigger]:
    kind = "renewal_granted" if isinstance(e, c.RenewalGranted) else "partnership_attributed"
    dates = calendar_dates(e.calendar.model_dump(mode="json"), e.school_year)
    dates["decided_at"] = decision_instant(envelope.occurred_at)
    name = e.school_side_name
    return [Trigger(kinds=_kinds(kind), academie=str(e.academie), dispositif=str(e.dispositif),
                    school_year=e.school_year, campaign_id=getattr(e, "campaign_id", None),
                    partnership_id=e.partnership_id, uai=e.uai, dates=dates,
                    facts={"school_name": name, "partner_name": e.partner.name if e.partner else "partenaire",
                           "with_partner": f" avec {e.partner.name}" if e.partner else "",
                           "pair": pair(name, e.partner.name if e.partner else None),
                           "school_year": e.school_year, "detail": classes_summary(e.classes)},
                    flags={"has_partner": e.partner is not None, "first_year": e.year_index == 1},
                    event_id=str(envelope.id))]


async def _t_partner_referent(conn, envelope, e: p.ReferentDesignated) -> list[Trigger]:
    """The partner's referent is named: someone can now be told its offer was chosen (the rule
    says whether that is still to do; the dedup key makes it once)."""
    if e.side.value != "partner":
        return []
    known = await db.partnership(conn, e.partnership_id, e.school_year)
    if known is None or known.decided_at is None:
        return []  # the attribution has not reached us: it will find this referent itself
    dates = {**calendar_dates(known.calendar, known.school_year), "decided_at": decision_instant(known.decided_at)}
    return [Trigger(kinds=_kinds("partner_referent_designated"), academie=known.academie,
                    dispositif=known.dispositif, school_year=known.school_year, campaign_id=known.campaign_id,
                    partnership_id=e.partnership_id, uai=known.uai, dates=dates,
                    facts={"school_name": known.school_name, "partner_name": known.partner_name or "partenaire",
                           "school_year": known.school_year, "detail": known.detail or ""},
                    flags={"has_partner": known.partner_id is not None, "first_year": known.year_index == 1},
                    event_id=str(envelope.id))]


async def _t_candidature_decision(conn, envelope, e) -> list[Trigger]:
    kind = {c.CandidatureRejected: "candidature_rejected",
            c.CandidatureReturnedForCorrection: "candidature_returned_for_correction"}[type(e)]
    known = await db.candidature(conn, e.candidature_id)
    campaign = await db.campaign(conn, e.campaign_id)
    if known is None or campaign is None:
        return []
    dates = {**calendar_dates(campaign.calendar, campaign.school_year), "decided_at": decision_instant(envelope.occurred_at)}
    return [Trigger(kinds=_kinds(kind), academie=known.academie, dispositif=campaign.dispositif,
                    school_year=campaign.school_year, campaign_id=e.campaign_id, candidature_id=e.candidature_id,
                    uai=known.uai, dates=dates,
                    facts={"school_name": known.school_name, "campaign_title": campaign.title,
                           "school_year": campaign.school_year, "detail": e.reason},
                    event_id=str(envelope.id))]


async def _t_renewal_declined(conn, envelope, e: c.RenewalDeclined) -> list[Trigger]:
    # The refusal names the year asked for; the partnership's referents are those of its last year.
    current = await db.partnership(conn, e.partnership_id)
    if current is None:
        return []
    return await _partnership_trigger(
        conn, envelope, e, _kinds("renewal_declined"), school_year=current.school_year,
        dates={"decided_at": decision_instant(envelope.occurred_at)},
        facts={"school_year": e.school_year, "detail": e.reason})


async def _partnership_trigger(conn, envelope, e, kinds: frozenset[str], **extra: Any) -> list[Trigger]:
    known = await db.partnership(conn, e.partnership_id, e.school_year)
    if known is None:
        known = await db.partnership(conn, e.partnership_id)
    if known is None:
        return []
    facts = {"school_name": known.school_name, "partner_name": known.partner_name or "partenaire",
             "with_partner": f" avec {known.partner_name}" if known.partner_name else "",
             "pair": pair(known.school_name, known.partner_name),
             **extra.pop("facts", {})}
    dates = {**calendar_dates(known.calendar, known.school_year), **extra.pop("dates", {})}
    return [Trigger(kinds=kinds, academie=known.academie, dispositif=known.dispositif,
                    school_year=extra.pop("school_year", e.school_year), partnership_id=e.partnership_id,
                    uai=known.uai, dates=dates, facts=facts, event_id=str(envelope.id), **extra)]


async def _t_meeting(conn, envelope, e) -> list[Trigger]:
    verb = {p.MeetingScheduled: "scheduled", p.MeetingRescheduled: "rescheduled", p.MeetingCancelled: "cancelled"}[type(e)]
    kinds = _kinds(f"meeting_{verb}", f"{e.kind.value}_meeting_{verb}")
    item = await db.calendar_item(conn, item_uid("meeting", e.partnership_id, e.meeting_id))
    label = getattr(e, "title", None) or (item.summary if item else MEETING_LABELS.get(e.kind.value, "réunion"))
    dates = {"starts_at": e.starts_at} if hasattr(e, "starts_at") else {}
    triggers = await _partnership_trigger(conn, envelope, e, kinds, meeting_id=e.meeting_id, dates=dates,
                                          facts={"label": label, "place": getattr(e, "place", "") or ""})
    if (verb == "cancelled" and e.kind.value == "work" and triggers
            and not await db.work_meetings_left(conn, e.partnership_id, e.school_year, item_uid("meeting", e.partnership_id, e.meeting_id))):
        # The year has no work meeting any more: plan again what scheduling one had satisfied.
        triggers += await _partnership_trigger(conn, envelope, e, _kinds("work_meeting_missing"))
    return triggers


async def _t_action(conn, envelope, e) -> list[Trigger]:
    verb = {p.ActionScheduled: "scheduled", p.ActionRescheduled: "rescheduled", p.ActionCancelled: "cancelled"}[type(e)]
    item = await db.calendar_item(conn, item_uid("action", e.partnership_id, e.action_id))
    label = getattr(e, "title", None) or (item.summary if item else "action du jumelage")
    dates = {"starts_at": e.starts_at} if hasattr(e, "starts_at") else {}
    return await _partnership_trigger(conn, envelope, e, _kinds(f"action_{verb}"), action_id=e.action_id,
                                      dates=dates, facts={"label": label, "place": getattr(e, "place", "") or ""})


async def _t_class_cancelled(conn, envelope, e: p.ClassCancelled) -> list[Trigger]:
    triggers: list[Trigger] = []
    for action_id in e.cancelled_action_ids:
        triggers += await _partnership_trigger(conn, envelope, e, _kinds("action_cancelled"), action_id=action_id)
    return triggers


async def _t_bilan(conn, envelope, e: p.BilanRecorded) -> list[Trigger]:
    triggers = await _partnership_trigger(conn, envelope, e, _kinds("bilan_recorded"))
    return [Trigger(**{**t.__dict__, "flags": {
        "wishes_to_continue": e.wish_to_continue,
        "last_allowed_year": t.dispositif is not None and is_last_allowed_year(t.dispositif, e.year_index)}})
        for t in triggers]


async def _t_renewal_requested(conn, envelope, e: c.RenewalRequested) -> list[Trigger]:
    # The request names the NEXT school year; the reminder it satisfies belongs to the current one.
    return await _partnership_trigger(conn, envelope, e, _kinds("renewal_requested"), school_year=None)


async def _t_ended(conn, envelope, e: p.PartnershipEnded) -> list[Trigger]:
    return await _partnership_trigger(conn, envelope, e, _kinds("partnership_ended"), school_year=None)


_TRANSLATORS: dict[type, Callable[..., Awaitable[list[Trigger]]]] = {
    c.CampaignOpened: _t_campaign_opened, c.CampaignClosed: _t_campaign_closed,
    c.CandidatureDrafted: _t_candidature, c.CandidatureSubmitted: _t_candidature,
    c.CandidatureResubmitted: _t_candidature, c.CandidatureWithdrawn: _t_candidature,
    c.PartnershipAttributed: _t_attributed, c.RenewalGranted: _t_attributed,
    c.RenewalRequested: _t_renewal_requested, c.RenewalDeclined: _t_renewal_declined,
    c.CandidatureRejected: _t_candidature_decision, c.CandidatureReturnedForCorrection: _t_candidature_decision,
    p.ReferentDesignated: _t_partner_referent,
    p.MeetingScheduled: _t_meeting, p.MeetingRescheduled: _t_meeting, p.MeetingCancelled: _t_meeting,
    p.ActionScheduled: _t_action, p.ActionRescheduled: _t_action, p.ActionCancelled: _t_action,
    p.ClassCancelled: _t_class_cancelled, p.BilanRecorded: _t_bilan, p.PartnershipEnded: _t_ended,
}


def utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)
