"""Projection of the programmes service's events.

Every programmes event names its partnership, school year and year index; the action and meeting
lookups (kind, month, classes) come from earlier events of the same partnership stream.

Counting rules (the same as the bilan's): an action is *planned* once it is scheduled and stays
planned when later cancelled or completed; *realised* when completed; *cancelled* when cancelled
directly or with its class. Planned counts by the month the action is (re)scheduled in, realised by
the month it was completed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from jumelage_contracts.personal import ERASED

from . import labels as fr
from . import questionnaire
from .candidatures import applicant, project_schools
from .model import Answer, Dims, Effects, Entry, Fact, Incoming, Redaction, Rencontre

State = Mapping[str, dict[str, Any]]
PARIS = ZoneInfo("Europe/Paris")


def action_key(partnership_id: str, action_id: str) -> str:
    """Action and meeting ids are the clients' choice, unique within their partnership only."""
    return f"action:{partnership_id}:{action_id}"


def meeting_key(partnership_id: str, meeting_id: str) -> str:
    return f"meeting:{partnership_id}:{meeting_id}"


def year_key(partnership_id: str, school_year: str) -> str:
    return f"pyear:{partnership_id}:{school_year}"


def funding_key(partnership_id: str, school_year: str, funding_id: str) -> str:
    """CNR funding ids are the clients' choice, unique within their partnership-year."""
    return f"funding:{partnership_id}:{school_year}:{funding_id}"


def subject_of(d: dict[str, Any]) -> str:
    return f"partnership:{d['partnership_id']}"


def month_of(value: Any) -> str:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(PARIS).strftime("%Y-%m")


def person_key(person_id: str) -> str:
    return f"person:{person_id}"


def needs(ev: Incoming) -> list[str]:
    d = ev.data
    if ev.type == "PersonErased":
        return [person_key(d["person_id"])]
    keys = [year_key(d["partnership_id"], d["school_year"])]
    if ev.type == "ReferentDesignated":
        keys.append(person_key(d["referent_id"]))
    if "action_id" in d:
        keys.append(action_key(d["partnership_id"], d["action_id"]))
    if "meeting_id" in d:
        keys.append(meeting_key(d["partnership_id"], d["meeting_id"]))
    if "funding_id" in d:
        keys.append(funding_key(d["partnership_id"], d["school_year"], d["funding_id"]))
    keys += [action_key(d["partnership_id"], a) for a in d.get("cancelled_action_ids") or []]
    return keys


def _classification(d: dict[str, Any], st: State) -> dict[str, Any]:
    return (st.get(year_key(d["partnership_id"], d["school_year"])) or {}).get("cls") or _UNCLASSIFIED


def _year_fact(d: dict[str, Any], st: State, metric: str, **kw: Any) -> Fact:
    """A fact of the partnership-year, classified by the school as it stands that year (the
    year's ProgrammeYearOpened, in the state)."""
    cls = _classification(d, st)
    return Fact(subject_of(d), metric, school_year=d["school_year"], year_index=d.get("year_index"),
                ep=cls.get("ep"), ruralite=cls.get("ruralite"), **kw)


_UNCLASSIFIED: dict[str, Any] = {}


# -- years ----------------------------------------------------------------------------------------


def year_opened(ev: Incoming, st: State) -> Effects:
    """Dimensions, and the year's own lookups: the school as it stands this year (every fact of
    the year is classified by it) and its classes (a cancelled class leaves the count)."""
    d = ev.data
    school = applicant(d)  # an ACM organiser's partnership without a school: by the organiser
    key = year_key(d["partnership_id"], d["school_year"])
    partner = d.get("partner") or {}
    # Only dimensions here: candidatures' attribution already counts the partnership-year, and
    # both sources describe the same school, so whichever lands first gives the same answer.
    dims = Dims(subject_of(d), "partnership", academie=school.get("academie"), departement=school.get("departement"),
                dispositif=d.get("dispositif"), ep=school.get("education_prioritaire") or "none",
                ruralite=school.get("ruralite") or "unknown", uai=school.get("uai"),
                school_name=school.get("name"), partner_name=partner.get("name"),
                school_year=d["school_year"] if d.get("year_index") == 1 else None)
    year = {**(st.get(key) or {}),
            "cls": {"ep": dims.ep, "ruralite": dims.ruralite},
            "classes": {c["class_id"]: [c.get("level"), int(c.get("pupils") or 0)] for c in d.get("classes") or []}}
    return Effects(dims=[dims, *project_schools(subject_of(d), d)], state={key: year}, timeline=[Entry(subject_of(d), ev.type,
                   f"Année {d.get('year_index')} ouverte ({d['school_year']}, {len(d.get('classes') or [])} classes)")])


def year_closed(ev: Incoming, st: State) -> Effects:
    # kind = the outcome: a year closed because it was renewed stays active to the end of its
    # school year, one closed otherwise stops counting as active from that day
    return _once_per_year(ev, st, "programme_years_closed", "closed", f"Année {ev.data.get('year_index')} close "
                          f"({fr.OUTCOMES.get(ev.data.get('outcome'), ev.data.get('outcome'))})", kind=ev.data.get("outcome"))


def partnership_ended(ev: Incoming, st: State) -> Effects:
    return _once_per_year(ev, st, "partnerships_ended", "ended", f"Jumelage terminé ({fr.OUTCOMES.get(ev.data.get('reason'), ev.data.get('reason'))})")


def _once_per_year(ev: Incoming, st: State, metric: str, flag: str, summary: str, **kw: Any) -> Effects:
    d = ev.data
    key = year_key(d["partnership_id"], d["school_year"])
    year = st.get(key) or {}
    entry = [Entry(subject_of(d), ev.type, summary)]
    if year.get(flag):
        return Effects(timeline=entry)
    return Effects(facts=[_year_fact(d, st, metric, **kw)], timeline=entry, state={key: {**year, flag: True}})


# -- referents, convention, meetings --------------------------------------------------------------


def _meeting(d: dict[str, Any]) -> str:
    return fr.MEETINGS.get(d.get("kind"), d.get("kind") or "")


def _referent_line(side: str | None, name: Any) -> str:
    return f"Référent {fr.SIDES.get(side, side)} : {name}"


def referent_designated(ev: Incoming, st: State) -> Effects:
    d = ev.data
    # where the person shows, so that an erasure finds the lines to say again without them
    key = person_key(d["referent_id"])
    lines = [*(st.get(key) or {}).get("lines", []), {"event_id": ev.event_id, "side": d.get("side")}]
    return Effects(facts=[_year_fact(d, st, "referents_designated", kind=d.get("side"))],
                   timeline=[Entry(subject_of(d), ev.type, _referent_line(d.get("side"), d.get("name")))],
                   state={key: {"lines": lines}})


def person_erased(ev: Incoming, st: State) -> Effects:
    """The referent's timeline lines read « personne effacée »; their number, dates and every
    figure stay as they were."""
    key = person_key(ev.data["person_id"])
    lines = (st.get(key) or {}).get("lines", [])
    return Effects(state={key: None} if key in st else {},
                   redactions=[Redaction(line["event_id"], "ReferentDesignated", _referent_line(line["side"], ERASED))
                               for line in lines])


def convention_signed(ev: Incoming, st: State) -> Effects:
    d = ev.data
    text = f"Convention signée par {d.get('signed_by')} ({fr.SIDES.get(d.get('side'), d.get('side'))})"
    if not d.get("fully_signed"):
        return Effects(timeline=[Entry(subject_of(d), ev.type, text)])
    return _once_per_year(ev, st, "conventions_signed", "signed", text + " : signée des deux parties",
                          kind=d.get("kind"))


def meeting_scheduled(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = meeting_key(d["partnership_id"], d["meeting_id"])
    meeting = st.get(key) or {}
    entry = [Entry(subject_of(d), ev.type, f"Réunion {_meeting(d)} prévue le {str(d.get('starts_at'))[:10]}")]
    if meeting:
        return Effects(timeline=entry)
    known = {"kind": d.get("kind")}
    if d.get("rencontre_number") is not None or d.get("title"):  # what the centres sociaux figure lists
        known.update(number=d.get("rencontre_number"), title=d.get("title"))
    return Effects(facts=[_year_fact(d, st, "meetings_scheduled", kind=d.get("kind"))], timeline=entry,
                   state={key: known})


def meeting_moved(ev: Incoming, st: State) -> Effects:
    d = ev.data
    text = "reportée" if ev.type == "MeetingRescheduled" else "annulée"
    return Effects(timeline=[Entry(subject_of(d), ev.type, f"Réunion {_meeting(d)} {text}")])


def meeting_held(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = meeting_key(d["partnership_id"], d["meeting_id"])
    meeting = st.get(key) or {}
    entry = [Entry(subject_of(d), ev.type, f"Réunion {_meeting(d)} tenue le {str(d.get('held_at'))[:10]}")]
    if meeting.get("held"):
        return Effects(timeline=entry)
    return Effects(facts=[_year_fact(d, st, "meetings_held", kind=d.get("kind"))], timeline=entry,
                   state={key: {**meeting, "kind": d.get("kind"), "held": True}},
                   rencontres=_rencontre(d, st, meeting))


def _rencontre(d: dict[str, Any], st: State, meeting: dict[str, Any]) -> list[Rencontre]:
    """Centres sociaux (seed 002): a rencontre held, and what it produced (video, paper…). Any
    other meeting that recorded productions is listed too: they are capitalised all the same."""
    productions = [{"kind": p.get("kind"), "title": p.get("title"), "url": p.get("url")}
                   for p in d.get("productions") or []]
    if d.get("kind") != "rencontre" and not productions:
        return []
    cls = _classification(d, st)
    held = datetime.fromisoformat(str(d["held_at"])) if not isinstance(d["held_at"], datetime) else d["held_at"]
    return [Rencontre(subject_of(d), d["school_year"], d.get("year_index"), d["meeting_id"], d.get("kind") or "",
                      meeting.get("number"), held.astimezone(PARIS).date(), meeting.get("title"), productions,
                      ep=cls.get("ep"), ruralite=cls.get("ruralite"))]


# -- actions --------------------------------------------------------------------------------------


def _action_facts(d: dict[str, Any], st: State, metric: str, kind: str, month: str, classes: list[str], sign: int = 1,
                  amounts: Mapping[str, int] | None = None) -> list[Fact]:
    """One fact for the action, and one per class (``class_`` metric) for the per-class view."""
    out = [_year_fact(d, st, metric, n=sign, kind=kind, month=month)]
    out += [_year_fact(d, st, "class_" + metric, n=sign, amount=(amounts or {}).get(c, 0), kind=kind, month=month,
                       class_ref=c) for c in classes]
    return out


def action_scheduled(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = action_key(d["partnership_id"], d["action_id"])
    entry = [Entry(subject_of(d), ev.type, f"Action « {d.get('title')} » prévue le {str(d.get('starts_at'))[:10]}")]
    if st.get(key):
        return Effects(timeline=entry)
    month, classes = month_of(d["starts_at"]), list(d.get("class_ids") or [])
    return Effects(facts=_action_facts(d, st, "actions_planned", d["kind"], month, classes), timeline=entry,
                   state={key: {"kind": d["kind"], "month": month, "classes": classes, "status": "planned",
                                "title": d.get("title")}})


def action_rescheduled(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = action_key(d["partnership_id"], d["action_id"])
    action = st.get(key) or {}
    new_month = month_of(d["starts_at"])
    entry = [Entry(subject_of(d), ev.type, f"Action « {action.get('title', d['action_id'])} » déplacée au "
                                           f"{str(d.get('starts_at'))[:10]}")]
    if not action or action.get("status") != "planned" or action.get("month") == new_month:
        return Effects(timeline=entry, state={key: {**action, "month": new_month}} if action else {})
    # Moving to another month moves the planned count with it: out of the old month, into the new.
    facts = _action_facts(d, st, "actions_planned", action["kind"], action["month"], action["classes"], sign=-1)
    facts += _action_facts(d, st, "actions_planned", action["kind"], new_month, action["classes"])
    return Effects(facts=facts, timeline=entry, state={key: {**action, "month": new_month}})


def _cancel(d: dict[str, Any], st: State, key: str, action: dict[str, Any]) -> tuple[list[Fact], dict[str, Any]]:
    if not action or action.get("status") != "planned":
        return [], {}
    facts = _action_facts(d, st, "actions_cancelled", action["kind"], action["month"], action["classes"])
    return facts, {key: {**action, "status": "cancelled"}}


def action_cancelled(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = action_key(d["partnership_id"], d["action_id"])
    action = st.get(key) or {}
    facts, state = _cancel(d, st, key, action)
    return Effects(facts=facts, state=state, timeline=[Entry(subject_of(d), ev.type,
                   f"Action « {action.get('title', d['action_id'])} » annulée")])


def class_cancelled(ev: Incoming, st: State) -> Effects:
    """The class leaves the year: out of the classes (and pupils) reached from that day, and its
    planned actions cancelled."""
    d = ev.data
    facts: list[Fact] = []
    state: dict[str, Any] = {}
    ykey = year_key(d["partnership_id"], d["school_year"])
    year = st.get(ykey) or {}
    known = (year.get("classes") or {}).get(d["class_id"])
    if known and d["class_id"] not in (year.get("cancelled") or []):
        level, pupils = known
        facts.append(_year_fact(d, st, "classes_reached", n=-1, amount=-pupils, level=level, class_ref=d["class_id"]))
        state[ykey] = {**year, "cancelled": [*(year.get("cancelled") or []), d["class_id"]]}
    for action_id in d.get("cancelled_action_ids") or []:
        key = action_key(d["partnership_id"], action_id)
        more, changes = _cancel(d, st, key, state.get(key) or st.get(key) or {})
        facts += more
        state.update(changes)
    return Effects(facts=facts, state=state,
                   timeline=[Entry(subject_of(d), ev.type, f"Classe {d.get('class_id')} retirée du programme")])


def action_completed(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = action_key(d["partnership_id"], d["action_id"])
    action = st.get(key) or {}
    entry = [Entry(subject_of(d), ev.type, f"Action « {action.get('title', d['action_id'])} » réalisée")]
    if action.get("status") == "realised":
        return Effects(timeline=entry)
    month = month_of(d["completed_at"])
    present = {p["class_id"]: int(p.get("pupils_present") or 0) for p in d.get("participants") or []}
    classes = action.get("classes") or list(d.get("class_ids") or [])
    facts = _action_facts(d, st, "actions_realised", d["kind"], month, classes, amounts=present)
    for audience, count in (("pupils", sum(present.values())), ("staff", d.get("staff_present") or 0),
                            ("families", d.get("families_present") or 0)):
        if count:
            facts.append(_year_fact(d, st, "participants", amount=int(count), kind=audience, month=month))
    return Effects(facts=facts, timeline=entry,
                   state={key: {**action, "kind": d["kind"], "classes": classes, "status": "realised"}})


# -- bilan ----------------------------------------------------------------------------------------


def bilan_recorded(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = year_key(d["partnership_id"], d["school_year"])
    year = st.get(key) or {}
    wish = bool(d.get("wish_to_continue"))
    entry = [Entry(subject_of(d), ev.type, f"Bilan enregistré : {d.get('realised')}/{d.get('planned')} actions "
                                           f"réalisées, {'souhait' if wish else 'pas de souhait'} de continuer")]
    if year.get("bilan"):
        return Effects(timeline=entry)
    facts = [_year_fact(d, st, "bilans_recorded")]
    for side in ("school", "partner"):
        score = (d.get(side) or {}).get("satisfaction")
        if score:
            facts.append(_year_fact(d, st, "satisfaction", amount=int(score), kind=side))
    if wish:
        facts.append(_year_fact(d, st, "wish_to_continue"))
    # the sides that recorded their own part (BilanSideRecorded) were counted then: the joint
    # bilan repeats their answers, which must not count twice
    answered = list(year.get("answered") or [])
    sides = [side for side in ("school", "partner") if side not in answered]
    return Effects(facts=facts, timeline=entry, state={key: {**year, "bilan": True, "answered": answered + sides}},
                   answers=_answers(d, st, sides))


def bilan_side_recorded(ev: Incoming, st: State) -> Effects:
    """One side's own part: its questionnaire answers count once, here (not again in the joint
    ``BilanRecorded`` that repeats them)."""
    d = ev.data
    key = year_key(d["partnership_id"], d["school_year"])
    year = st.get(key) or {}
    entry = [Entry(subject_of(d), ev.type, f"Bilan : part {d.get('side')} enregistrée")]
    answered = list(year.get("answered") or [])
    if year.get("bilan") or d.get("side") in answered:
        return Effects(timeline=entry)
    return Effects(timeline=entry, state={key: {**year, "answered": answered + [d.get("side")]}},
                   answers=_answers(d, st, [d.get("side")]))


def _answers(d: dict[str, Any], st: State, sides: list[str]) -> list[Answer]:
    """The answers of ``sides`` (each question once per side: the first answer given), blank ones
    left out (``reporting.domain.questionnaire``)."""
    cls = _classification(d, st)
    out: list[Answer] = []
    seen: set[tuple[str, str]] = set()
    for item in d.get("questionnaire") or []:
        side, question = item.get("side"), questionnaire.question_of(item.get("question") or "")
        if side not in sides or (side, question) in seen:
            continue
        seen.add((side, question))
        answered, value = questionnaire.answer_of(item.get("answer"))
        if answered:
            out.append(Answer(subject_of(d), d["school_year"], side, question, value,
                              ep=cls.get("ep"), ruralite=cls.get("ruralite")))
    return out


# -- CNR funding (fonds d'innovation pédagogique) ---------------------------------------------------


def funding_requested(ev: Incoming, st: State) -> Effects:
    return _funding(ev, st, "requested", "funds_requested", f"Financement demandé : {ev.data.get('amount_eur')} €")


def funding_granted(ev: Incoming, st: State) -> Effects:
    return _funding(ev, st, "granted", "funds_granted", f"Financement accordé : {ev.data.get('amount_eur')} €")


def _funding(ev: Incoming, st: State, flag: str, metric: str, summary: str) -> Effects:
    """A funding is requested once and granted once (the producer answers a repeat with nothing):
    counted once each, in euros, under the year's classification."""
    d = ev.data
    key = funding_key(d["partnership_id"], d["school_year"], d["funding_id"])
    funding = st.get(key) or {}
    entry = [Entry(subject_of(d), ev.type, summary)]
    if funding.get(flag) is not None:
        return Effects(timeline=entry)
    return Effects(facts=[_year_fact(d, st, metric, amount=int(d.get("amount_eur") or 0))], timeline=entry,
                   state={key: {**funding, flag: int(d.get("amount_eur") or 0)}})


def funding_spent(ev: Incoming, st: State) -> Effects:
    """Each expense counts once, by its id (v2; a v1 spend gets one from its running total)."""
    d = ev.data
    key = funding_key(d["partnership_id"], d["school_year"], d["funding_id"])
    funding = st.get(key) or {}
    entry = [Entry(subject_of(d), ev.type, f"Dépense : {d.get('amount_eur')} € ({d.get('label')})")]
    expenses = list(funding.get("expenses") or [])
    if d.get("expense_id") in expenses:
        return Effects(timeline=entry)
    return Effects(facts=[_year_fact(d, st, "funds_spent", amount=int(d.get("amount_eur") or 0))], timeline=entry,
                   state={key: {**funding, "expenses": expenses + [d.get("expense_id")]}})


CNR_STEP_METRICS = {"concertation": "cnr_concertation", "projet_pedagogique": "cnr_projet_pedagogique",
                    "financement": "cnr_financement"}


def step_completed(ev: Incoming, st: State) -> Effects:
    """A CNR project counts once per step it reached in a year (seed 003: the three steps are
    optional and distinct, so each is counted on its own, not as a stage); plan mercredi's steps
    go on the timeline only."""
    d = ev.data
    entry = [Entry(subject_of(d), ev.type, f"Étape {d['step']} terminée")]
    metric = CNR_STEP_METRICS.get(d["step"]) if d.get("track") == "concertation" else None
    key = year_key(d["partnership_id"], d["school_year"])
    year = st.get(key) or {}
    reached = list(year.get("cnr_steps") or [])
    if metric is None or d["step"] in reached:
        return Effects(timeline=entry)
    return Effects(facts=[_year_fact(d, st, metric)], timeline=entry,
                   state={key: {**year, "cnr_steps": reached + [d["step"]]}})


def _timeline_only(label: str) -> Callable[[Incoming, State], Effects]:
    def step(ev: Incoming, st: State) -> Effects:
        return Effects(timeline=[Entry(subject_of(ev.data), ev.type, label.format(**ev.data))])

    return step


HANDLERS: dict[str, Callable[[Incoming, State], Effects]] = {
    "ProgrammeYearOpened": year_opened,
    "ProgrammeYearClosed": year_closed,
    "PartnershipEnded": partnership_ended,
    "ReferentDesignated": referent_designated,
    "PersonErased": person_erased,
    "ConventionSigned": convention_signed,
    "MeetingScheduled": meeting_scheduled,
    "MeetingRescheduled": meeting_moved,
    "MeetingCancelled": meeting_moved,
    "MeetingHeld": meeting_held,
    "ActionScheduled": action_scheduled,
    "ActionRescheduled": action_rescheduled,
    "ActionCancelled": action_cancelled,
    "ClassCancelled": class_cancelled,
    "ActionCompleted": action_completed,
    "BilanRecorded": bilan_recorded,
    "BilanSideRecorded": bilan_side_recorded,
    "StepCompleted": step_completed,
    "FundingRequested": funding_requested,
    "FundingGranted": funding_granted,
    "FundingSpent": funding_spent,
}
