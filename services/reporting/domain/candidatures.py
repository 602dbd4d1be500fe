"""Projection of the candidatures service's events.

Lookups use only earlier events of the same source (campaign → school year, offer → EAC domains,
candidature → its classes), which JetStream delivers in order within one stream.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable, Mapping

from .model import Dims, Effects, Entry, Fact, Incoming, domain_mask

State = Mapping[str, dict[str, Any]]


def campaign_key(campaign_id: str) -> str:
    return f"campaign:{campaign_id}"


def offer_key(offer_id: str) -> str:
    return f"offer:{offer_id}"


def candidature_key(candidature_id: str) -> str:
    return f"candidature:{candidature_id}"


def partnership_subject(partnership_id: str) -> str:
    return f"partnership:{partnership_id}"


def needs(ev: Incoming) -> list[str]:
    d = ev.data
    keys = []
    if "campaign_id" in d:
        keys.append(campaign_key(d["campaign_id"]))
    if d.get("offer_id"):
        keys.append(offer_key(d["offer_id"]))
    if "candidature_id" in d:
        keys.append(candidature_key(d["candidature_id"]))
    return keys


_CONTENT = ("CandidatureSubmitted", "CandidatureAmended", "CandidatureResubmitted")


def waits_for(ev: Incoming, st: State) -> str | None:
    """The state key of a cause in *another* stream this event needs first (see ``order``):
    the campaign of an offer or a candidature (its school year), the offer a candidature or an
    attribution names (its EAC domains), the attribution whose places an offer gets back."""
    d = ev.data
    if ev.type in ("OfferPublished", "OfferUpdated", *_CONTENT) and campaign_key(d["campaign_id"]) not in st:
        return campaign_key(d["campaign_id"])
    if ev.type in (*_CONTENT, "PartnershipAttributed") and d.get("offer_id") and offer_key(d["offer_id"]) not in st:
        return offer_key(d["offer_id"])
    if ev.type == "OfferPlacesReleased" and not (st.get(candidature_key(d["candidature_id"])) or {}).get("year1"):
        return candidature_key(d["candidature_id"])
    return None


def _offer_mask(offer: dict[str, Any] | None) -> int:
    return domain_mask((offer or {}).get("domains"))


def classification(school: dict[str, Any], domains: int | None = None) -> dict[str, Any]:
    """What a fact carries about the school as it stood (see ``Fact``)."""
    return {"ep": school.get("education_prioritaire") or "none", "ruralite": school.get("ruralite") or "unknown",
            "domains": domains}


def _school_dims(subject: str, kind: str, school: dict[str, Any], **extra: Any) -> Dims:
    return Dims(
        subject=subject, kind=kind, academie=school.get("academie"), departement=school.get("departement"),
        ep=school.get("education_prioritaire") or "none", ruralite=school.get("ruralite") or "unknown",
        uai=school.get("uai"), school_name=school.get("name"), **extra,
    )


def project_schools(subject: str, d: dict[str, Any]) -> list[Dims]:
    """The other schools of a CNR project (seed 003: « écoles ou groupes d'écoles »), one row each
    under the partnership (``parent``): the schools reached count them with the one carrying it."""
    return [_school_dims(f"{subject}/school:{school['uai']}", PROJECT_SCHOOL, school, parent=subject)
            for school in d.get("associated_schools") or ()]


PROJECT_SCHOOL = "project_school"
"""The subject kind of a CNR project's associated school (see ``project_schools``)."""


# -- what a candidature has counted, and under which classification ------------------------------
#
# A candidature's figures follow its classification as it stands: when an amendment changes the
# school's éducation prioritaire / rurality or the offer (so the EAC domains), everything already
# counted for it moves, dated the amendment, from the old classification to the new one — as an
# action's planned count moves with its month. The state keeps the tally of what was counted.


def _counted(key: str, cand: dict[str, Any], metric: str, kind: str | None = None,
             school_year: str | None = None, sign: int = 1) -> tuple[Fact, dict[str, Any]]:
    tally = dict(cand.get("tally") or {})
    tally[f"{metric}|{kind or ''}"] = tally.get(f"{metric}|{kind or ''}", 0) + sign
    fact = Fact(key, metric, n=sign, kind=kind, school_year=school_year or cand.get("school_year"),
                **(cand.get("cls") or {}))
    return fact, {**cand, "tally": tally}


def _moved(key: str, cand: dict[str, Any], cls: dict[str, Any]) -> list[Fact]:
    old = cand.get("cls")
    if not old or old == cls:
        return []
    out = []
    for tag, n in (cand.get("tally") or {}).items():
        if not n:
            continue
        metric, kind = tag.split("|", 1)
        for sign, c in ((-1, old), (1, cls)):
            out.append(Fact(key, metric, n=sign * n, kind=kind or None, school_year=cand.get("school_year"), **c))
    return out


def _class_facts(subject: str, classes: list[dict[str, Any]], school_year: str, year_index: int,
                 cls: dict[str, Any]) -> list[Fact]:
    return [
        Fact(subject, "classes_reached", n=1, amount=int(c.get("pupils") or 0), school_year=school_year,
             year_index=year_index, level=c.get("level"), class_ref=c.get("class_id"), **cls)
        for c in classes
    ]


def _deadline_facts(subject: str, calendar: dict[str, Any] | None, school_year: str, year_index: int,
                    cls: dict[str, Any]) -> list[Fact]:
    # The deadlines are facts dated on the deadline itself: "overdue as of D" then needs nothing
    # but sums over facts up to D, like every other indicator.
    if not calendar:
        return []
    out = []
    for metric, window in (("work_meeting_due", "work_meeting_window"), ("bilan_due", "bilan_window")):
        end = (calendar.get(window) or {}).get("end")
        if end:
            # overdue from the day after the window closes
            out.append(Fact(subject, metric, school_year=school_year, year_index=year_index,
                            day=date.fromisoformat(str(end)[:10]) + timedelta(days=1), **cls))
    return out


# -- campaigns and offers -------------------------------------------------------------------------


def campaign_opened(ev: Incoming, st: State) -> Effects:
    d = ev.data
    subject = campaign_key(d["campaign_id"])
    return Effects(
        facts=[Fact(subject, "campaigns_opened", school_year=d["school_year"])],
        dims=[Dims(subject, "campaign", academie=d["academie"], dispositif=d["dispositif"],
                   school_year=d["school_year"], label=d.get("title"))],
        state={subject: {"academie": d["academie"], "dispositif": d["dispositif"], "school_year": d["school_year"]}},
    )


def campaign_closed(ev: Incoming, st: State) -> Effects:
    subject = campaign_key(ev.data["campaign_id"])
    if (st.get(subject) or {}).get("closed"):
        return Effects()
    return Effects(facts=[Fact(subject, "campaigns_closed")],
                   state={subject: {**(st.get(subject) or {}), "closed": True}})


def offer_published(ev: Incoming, st: State) -> Effects:
    d = ev.data
    key = offer_key(d["offer_id"])
    campaign = st.get(campaign_key(d["campaign_id"])) or {}
    known = key in st
    offer = {**(st.get(key) or {}), "domains": [int(x) for x in d.get("eac_domains") or []], "title": d.get("title")}
    return Effects(
        facts=[] if known else [Fact(key, "offers_published", school_year=campaign.get("school_year"),
                                     domains=_offer_mask(offer))],
        dims=[Dims(key, "offer", academie=d["academie"], dispositif=d["dispositif"],
                   school_year=campaign.get("school_year"), domains=_offer_mask(offer),
                   partner_name=(d.get("partner") or {}).get("name"), label=d.get("title"))],
        state={key: offer},
    )


def offer_withdrawn(ev: Incoming, st: State) -> Effects:
    key = offer_key(ev.data["offer_id"])
    offer = st.get(key) or {}
    if offer.get("withdrawn"):
        return Effects()
    return Effects(facts=[Fact(key, "offers_withdrawn")], state={key: {**offer, "withdrawn": True}})


# -- candidatures ---------------------------------------------------------------------------------


def applicant(d: dict[str, Any]) -> dict[str, Any]:
    """Who a candidature or partnership is classified by: its school; an ACM organiser's with no
    school (plan mercredi, seed 001) by the organiser's académie and département, no UAI."""
    if d.get("school"):
        return d["school"]
    organiser = d["organiser"]
    return {"academie": organiser["academie"], "departement": organiser["departement"], "uai": None,
            "name": organiser["name"], "education_prioritaire": "none", "ruralite": None}


def candidature_content(ev: Incoming, st: State) -> Effects:
    """Submitted, amended or resubmitted: the payload is the whole content."""
    d = ev.data
    key = candidature_key(d["candidature_id"])
    previous = st.get(key) or {}
    campaign = st.get(campaign_key(d["campaign_id"])) or {}
    offer = st.get(offer_key(d["offer_id"])) if d.get("offer_id") else None
    who = applicant(d)
    cls = classification(who, _offer_mask(offer))
    facts = _moved(key, previous, cls)
    cand = {**previous, "school_year": campaign.get("school_year") or previous.get("school_year"),
            "offer_id": d.get("offer_id"), "cls": cls}
    if ev.type == "CandidatureSubmitted" and not previous.get("submitted"):
        fact, cand = _counted(key, cand, "candidatures_submitted")
        facts.append(fact)
        cand["submitted"] = True
    if ev.type == "CandidatureResubmitted" and previous.get("awaiting"):
        fact, cand = _counted(key, cand, "candidatures_awaiting_correction", sign=-1)
        facts.append(fact)
        cand["awaiting"] = False
    return Effects(
        facts=facts,
        dims=[_school_dims(key, "candidature", who, dispositif=d["dispositif"],
                           school_year=campaign.get("school_year"), domains=cls["domains"])],
        timeline=[Entry(key, ev.type, _SUMMARIES[ev.type](d))],
        state={key: cand},
    )


def _once(metric: str, flag: str, summary: Callable[[dict], str]):
    """A candidature outcome counted once per candidature, whatever the redeliveries or repeats."""

    def step(ev: Incoming, st: State) -> Effects:
        key = candidature_key(ev.data["candidature_id"])
        previous = st.get(key) or {}
        entry = [Entry(key, ev.type, summary(ev.data))]
        if previous.get(flag):
            return Effects(timeline=entry)
        fact, cand = _counted(key, previous, metric)
        return Effects(facts=[fact], timeline=entry, state={key: {**cand, flag: True}})

    return step


def candidature_returned(ev: Incoming, st: State) -> Effects:
    """Sent back to the school: counted once in ``candidatures_returned``, and awaiting its
    correction (the school view's status ``returned``) until it is resubmitted."""
    key = candidature_key(ev.data["candidature_id"])
    cand = st.get(key) or {}
    facts = []
    if not cand.get("returned"):
        fact, cand = _counted(key, cand, "candidatures_returned")
        facts.append(fact)
    if not cand.get("awaiting"):
        fact, cand = _counted(key, cand, "candidatures_awaiting_correction")
        facts.append(fact)
    return Effects(facts=facts, state={key: {**cand, "returned": True, "awaiting": True}},
                   timeline=[Entry(key, ev.type, f"Renvoyée pour correction : {ev.data.get('reason', '')}")])


def candidature_reviewed(ev: Incoming, st: State) -> Effects:
    key = candidature_key(ev.data["candidature_id"])
    fact, cand = _counted(key, st.get(key) or {}, "avis_recorded", kind=ev.data.get("avis"))
    return Effects(facts=[fact], state={key: cand},
                   timeline=[Entry(key, ev.type, f"Avis {_AVIS.get(ev.data.get('avis'), ev.data.get('avis'))} de {ev.data.get('reviewer')}")])


def partnership_year_opened(ev: Incoming, st: State) -> Effects:
    """PartnershipAttributed (year 1) and RenewalGranted (year N): one more partnership-year,
    classified by the school as the event describes it for that year."""
    d = ev.data
    pid = d["partnership_id"]
    subject = partnership_subject(pid)
    cand_key = candidature_key(d["candidature_id"])
    cand = st.get(cand_key) or {}
    offer_id = d.get("offer_id") or cand.get("offer_id")
    offer = st.get(offer_key(offer_id)) if offer_id else None
    year, index = d["school_year"], int(d.get("year_index") or 1)
    years = dict(cand.get("years") or {})
    if years.get(year):
        return Effects()  # this year of the partnership is already counted
    years[year] = index
    # the partnership's EAC domains are its offer's at attribution: on the subject, not the facts
    cls = classification(applicant(d))
    facts = [Fact(subject, "partnerships_active", school_year=year, year_index=index, kind=d.get("tier"), **cls)]
    facts += _class_facts(subject, d.get("classes") or [], year, index, cls)
    facts += _deadline_facts(subject, d.get("calendar"), year, index, cls)
    if ev.type == "PartnershipAttributed":
        fact, cand = _counted(cand_key, cand, "candidatures_attributed",
                              school_year=cand.get("school_year") or year)
        facts.append(fact)
        if d.get("late"):  # after the campaign's attribution date: counted, and moved, as the attribution
            fact, cand = _counted(cand_key, cand, "attributions_late", school_year=cand.get("school_year") or year)
            facts.append(fact)
    else:
        facts.append(Fact(subject, "renewals_granted", school_year=year, year_index=index, **cls))
    partner = d.get("partner") or {}
    first = ev.type == "PartnershipAttributed"
    dims = [_school_dims(subject, "partnership", applicant(d), dispositif=d["dispositif"],
                         school_year=year if first else None, domains=_offer_mask(offer) if first else None,
                         partner_name=partner.get("name"), parent=cand_key), *project_schools(subject, d)]
    summary = (f"Jumelage attribué pour {year} ({len(d.get('classes') or [])} classes)"
               + (f", tardivement : {d.get('late_reason')}" if d.get("late") else "")
               if first else f"Renouvellement accordé : année {index} en {year}")
    first_year = {"year1": year, "cls1": cls} if first else {}
    return Effects(facts=facts, dims=dims, timeline=[Entry(subject, ev.type, summary)],
                   state={cand_key: {**cand, "years": years, "attributed": True, "pcls": cls, **first_year}})


def offer_places_released(ev: Incoming, st: State) -> Effects:
    """Classes of a partnership in its first year given back to the offer: counted once per class,
    on the partnership, in its first school year and classified as that year."""
    d = ev.data
    subject = partnership_subject(d["partnership_id"])
    cand_key = candidature_key(d["candidature_id"])
    cand = st.get(cand_key) or {}
    released = set(cand.get("released") or ())
    new = [c for c in d.get("class_ids") or [] if c not in released]
    why = _RELEASED.get(d.get("reason"), d.get("reason"))
    entry = [Entry(subject, ev.type, f"Places rendues à l'offre : {d.get('classes')} classe(s) ({why})")]
    if not new:
        return Effects(timeline=entry)
    return Effects(facts=[Fact(subject, "places_released", n=len(new), school_year=cand.get("year1"), year_index=1,
                               **(cand.get("cls1") or {}))],
                   timeline=entry, state={cand_key: {**cand, "released": sorted(released | set(new))}})


def renewal_requested(ev: Incoming, st: State) -> Effects:
    return _renewal(ev, st, "renewals_requested", "requested", "Renouvellement demandé")


def renewal_declined(ev: Incoming, st: State) -> Effects:
    return _renewal(ev, st, "renewals_declined", "declined", "Renouvellement refusé")


def _renewal(ev: Incoming, st: State, metric: str, flag: str, label: str) -> Effects:
    d = ev.data
    subject = partnership_subject(d["partnership_id"])
    cand_key = candidature_key(d["candidature_id"])
    cand = st.get(cand_key) or {}
    marks = dict(cand.get(flag) or {})
    entry = [Entry(subject, ev.type, f"{label} : année {d.get('year_index')} en {d.get('school_year')}")]
    if marks.get(d["school_year"]):
        return Effects(timeline=entry)
    marks[d["school_year"]] = True
    # classified as the partnership's current year stands
    return Effects(facts=[Fact(subject, metric, school_year=d["school_year"], year_index=d.get("year_index"),
                               **(cand.get("pcls") or {}))],
                   timeline=entry, state={cand_key: {**cand, flag: marks}})


def bilan_noted(ev: Incoming, st: State) -> Effects:
    d = ev.data
    wish = "souhaite continuer" if d.get("wish_to_continue") else "ne souhaite pas continuer"
    return Effects(timeline=[Entry(partnership_subject(d["partnership_id"]), ev.type,
                                   f"Bilan {d.get('school_year')} noté : l'école {wish}")])


def _nothing(ev: Incoming, st: State) -> Effects:
    return Effects()


_RELEASED = {"partnership_ended": "jumelage arrêté", "class_cancelled": "classe retirée du programme"}

_AVIS = {"favourable": "favorable", "reserve": "réservé", "defavorable": "défavorable"}

_SUMMARIES: dict[str, Callable[[dict], str]] = {
    "CandidatureSubmitted": lambda d: f"Candidature déposée ({len(d.get('classes') or [])} classes)",
    "CandidatureAmended": lambda d: f"Candidature modifiée ({len(d.get('classes') or [])} classes)",
    "CandidatureResubmitted": lambda d: "Candidature corrigée et redéposée",
}

HANDLERS: dict[str, Callable[[Incoming, State], Effects]] = {
    "CampaignOpened": campaign_opened,
    "CampaignClosed": campaign_closed,
    "OfferPublished": offer_published,
    "OfferUpdated": offer_published,
    "OfferWithdrawn": offer_withdrawn,
    "OfferCapacityReserved": _nothing,
    "OfferPlacesReleased": offer_places_released,
    "CandidatureDrafted": _nothing,  # a draft is not visible to the académie
    "CandidatureSubmitted": candidature_content,
    "CandidatureAmended": candidature_content,
    "CandidatureResubmitted": candidature_content,
    "CandidatureWithdrawn": _once("candidatures_withdrawn", "withdrawn", lambda d: "Candidature retirée"),
    "CandidatureReturnedForCorrection": candidature_returned,
    "CandidatureReviewed": candidature_reviewed,
    "PartnershipAttributed": partnership_year_opened,
    "CandidatureRejected": _once("candidatures_rejected", "rejected", lambda d: "Candidature rejetée"),
    "PartnershipBilanNoted": bilan_noted,
    "RenewalRequested": renewal_requested,
    "RenewalGranted": partnership_year_opened,
    "RenewalDeclined": renewal_declined,
}
