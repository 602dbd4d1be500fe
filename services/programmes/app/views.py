"""Query views of a partnership: its current year, its programme per class, its timeline."""

from __future__ import annotations

from typing import Any, Iterable

from jumelage_contracts import Envelope
from jumelage_contracts.reference import timezone_of

from programmes.domain.errors import NotFound
from programmes.domain.state import (
    CancelledAction,
    CancelledMeeting,
    CompletedAction,
    Ended,
    HeldMeeting,
    PlannedAction,
    Running,
    Year,
)


def _status(item: Any) -> str:
    return {PlannedAction: "planned", CancelledAction: "cancelled", CompletedAction: "completed",
            HeldMeeting: "held", CancelledMeeting: "cancelled"}.get(type(item), "planned")


def year_summary(year: Year) -> dict[str, Any]:
    actions = list(year.actions.values())
    return {
        "school_year": year.school_year, "year_index": year.year_index,
        "starts_on": year.starts_on.isoformat(), "ends_on": year.ends_on.isoformat(),
        "tier": year.tier.value if year.tier else None,
        # "scheduled" counts every action ever scheduled this year, as the bilan's "planned" does;
        # "to_come" those neither completed nor cancelled yet
        "actions": {"scheduled": len(actions),
                    "to_come": sum(_status(a) == "planned" for a in actions),
                    "completed": sum(_status(a) == "completed" for a in actions),
                    "cancelled": sum(_status(a) == "cancelled" for a in actions)},
        "bilan_recorded": year.bilan_recorded,
    }


def year_view(year: Year) -> dict[str, Any]:
    return {
        **year_summary(year),
        "classes": [{"class_id": c.class_id, "label": c.label, "level": c.level.value, "pupils": c.pupils,
                     "cancelled": c.cancelled} for c in year.classes.values()],
        "referents": [{"referent_id": r.referent_id, "side": r.side.value, "role": r.role.value, "name": r.name,
                       "email": r.email} for r in year.referents.values()],
        "convention": {
            "fully_signed": year.fully_signed,
            "signatures": [{"side": s.side.value, "signed_by": s.signed_by, "signed_at": s.signed_at.isoformat(),
                            "engagements_accepted": list(s.engagements)} for s in year.signatures.values()],
        },
        "meetings": sorted(({"meeting_id": m.meeting_id, "kind": m.kind.value, "status": _status(m),
                             "starts_at": m.starts_at.isoformat(), "rencontre_number": m.rencontre_number,
                             "timing": m.timing.value if m.timing else None}
                            for m in year.meetings.values()), key=lambda m: m["starts_at"]),
        "steps_done": list(year.steps_done),
        "funding": [{"funding_id": f.funding_id, "requested_eur": f.requested_eur, "granted_eur": f.granted_eur,
                     "spent_eur": f.spent_eur, "expenses": len(f.expenses)} for f in year.funding.values()],
        "bilan": year.bilan.model_dump(mode="json") if year.bilan else None,
    }


def partnership_view(state: Running | Ended, version: int) -> dict[str, Any]:
    identity = state.identity
    return {
        "partnership_id": identity.partnership_id, "version": version,
        "status": "ended" if isinstance(state, Ended) else "running",
        "ended_reason": state.reason if isinstance(state, Ended) else None,
        "dispositif": identity.dispositif.value, "academie": identity.academie, "uai": identity.uai,
        "associated_uais": list(identity.uais[1:]),
        "partner_id": identity.partner_id, "candidature_id": identity.candidature_id,
        "organiser": organiser_view(identity.organiser),
        "years": len(state.past_years) + 1,
        "current_year": year_view(state.year),
        "past_years": [year_summary(y) for y in state.past_years],
    }


def organiser_view(organiser: Any) -> dict[str, Any] | None:
    """The ACM organiser holding the school side (plan mercredi), with its places: the
    organiser's groups of children are the year's classes."""
    if organiser is None:
        return None
    return {"partner_id": organiser.partner_id, "kind": organiser.kind, "name": organiser.name,
            "commune": organiser.commune,
            "places": [{"kind": p.kind, "name": p.name, "uai": p.uai, "address": p.address, "commune": p.commune}
                       for p in organiser.places]}


def find_year(state: Running | Ended, year_index: int | None) -> Year:
    if year_index is None:
        return state.year
    for year in (*state.past_years, state.year):
        if year.year_index == year_index:
            return year
    raise NotFound(f"the partnership has no year {year_index}", rule="year_must_exist", field="year_index")


def _action_row(action: Any, class_id: str) -> dict[str, Any]:
    row = {"action_id": action.action_id, "kind": action.kind.value, "title": action.title,
           "status": _status(action), "starts_at": action.starts_at.isoformat(),
           "duration_minutes": action.duration_minutes, "place": action.place, "class_ids": list(action.class_ids)}
    if isinstance(action, CompletedAction):
        row["completed_at"] = action.completed_at.isoformat()
        row["pupils_present"] = sum(p.pupils_present for p in action.participants if p.class_id == class_id)
        row["took_part"] = class_id in action.realised_class_ids
    if isinstance(action, CancelledAction):
        row["reason"] = action.reason
    return row


def programme_view(state: Running | Ended, version: int, year_index: int | None = None) -> dict[str, Any]:
    year = find_year(state, year_index)
    classes = []
    for info in year.classes.values():
        actions = sorted((a for a in year.actions.values() if info.class_id in a.class_ids),
                         key=lambda a: a.starts_at)
        classes.append({"class_id": info.class_id, "label": info.label, "level": info.level.value,
                        "pupils": info.pupils, "cancelled": info.cancelled,
                        "actions": [_action_row(a, info.class_id) for a in actions]})
    return {"partnership_id": state.identity.partnership_id, "version": version, "school_year": year.school_year,
            "year_index": year.year_index, "classes": classes}


def timeline_view(partnership_id: str, envelopes: Iterable[Envelope]) -> dict[str, Any]:
    entries = [{
        "version": e.stream_version, "type": e.type, "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat() if e.recorded_at else None,
        "school_year": e.data.get("school_year"), "year_index": e.data.get("year_index"),
        "actor": {"role": e.actor.role.value, "id": e.actor.id}, "event_id": str(e.id), "data": e.data,
    } for e in envelopes]
    years = sorted({(x["year_index"], x["school_year"]) for x in entries if x["year_index"] is not None})
    return {"partnership_id": partnership_id, "version": entries[-1]["version"] if entries else 0,
            "years": [{"year_index": i, "school_year": y} for i, y in years], "events": entries}


# -- the page a person opens from an e-mail or a calendar entry --------------------------------

STATUS_FR = {"planned": "prévue", "completed": "réalisée", "cancelled": "annulée", "held": "tenue",
             "running": "en cours", "ended": "terminé"}
MEETING_FR = {"work": "Réunion de travail", "follow_up": "Réunion de suivi", "bilan": "Réunion de bilan",
              "rencontre": "Rencontre"}
SIDE_FR = {"school": "École / établissement", "partner": "Partenaire"}


def page_view(state: Running | Ended, version: int) -> dict[str, Any]:
    """What the partnership's HTML page shows of its current year, dates in the académie's time zone
    (the template escapes every value)."""
    zone = timezone_of(state.identity.academie)

    def local(moment: Any) -> str:
        return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M")

    overview, programme = partnership_view(state, version), programme_view(state, version)
    year = state.year
    classes = [{**c, "actions": [{**a, "status": STATUS_FR[a["status"]],
                                  "starts_at": local(year.actions[a["action_id"]].starts_at)} for a in c["actions"]]}
               for c in programme["classes"]]
    meetings = [{"kind": MEETING_FR.get(m.kind.value, m.kind.value), "status": STATUS_FR[_status(m)],
                 "starts_at": local(m.starts_at), "place": getattr(m, "place", "")}
                for m in sorted(year.meetings.values(), key=lambda m: m.starts_at)]
    current = overview["current_year"]
    return {"overview": overview, "year": current, "status": STATUS_FR[overview["status"]], "classes": classes,
            "meetings": meetings, "starts_on": year.starts_on.strftime("%d/%m/%Y"),
            "ends_on": year.ends_on.strftime("%d/%m/%Y"),
            "referents": [{**r, "side": side_label(r["side"], state)} for r in current["referents"]]}


def side_label(side: str, state: Running | Ended) -> str:
    if side == "school" and state.identity.organiser is not None:
        return "Organisateur de l'ACM"
    return SIDE_FR[side]
