"""Valid, random event histories of the three producing services, for the property tests, the
benchmarks and demos: campaigns, offers, candidatures and their outcomes, attributed partnerships
with their programme (meetings, actions, bilan), renewals and reminders, in causal order and dated.

Payloads follow the contracts (``validate=True`` checks each against its model).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from jumelage_contracts import Envelope
from jumelage_contracts.envelope import SYSTEM as _SYSTEM
from jumelage_contracts.reference import schools
from jumelage_contracts.registry import model_for

# every académie the fixture has schools in
ACADEMIES = tuple(sorted({s.academie.value for s in schools()}))
DISPOSITIFS = ("culture", "entreprise", "mercredi")
# drawn apart (see _campaign), so that the histories of DISPOSITIFS stay those other tests know
LATER_DISPOSITIFS = ("centre_social", "concertation")
LEVELS = ("CM1", "CM2", "5e", "4e", "3e")
EP = ("REP", "REP+", "none")
RURALITE = ("grands_centres_urbains", "ceintures_urbaines", "petites_villes", "bourgs_ruraux")
KINDS = ("visit", "workshop", "careers_forum", "performance")
# the end-of-year questionnaire (seed 004): choices, a figure, a word out of many, a free text
QUESTIONS = {
    "Le jumelage a-t-il répondu à vos attentes ?": ("Oui", "oui ", "Non", "Plutôt oui", "Plutôt  non", " "),
    "Note globale (1 à 5)": ("1", "2", "3", "4", "5"),
    "Un mot pour résumer l'année": tuple(f"Mot {i}" for i in range(14)),
    "Que faudrait-il améliorer ?": ("Le calendrier", "Mieux préparer les élèves avant chaque visite, et prévoir un "
                                    "temps d'échange avec les familles en fin d'année scolaire.", ""),
}


@dataclass
class _Draft:
    at: datetime
    seq: int
    type: str
    stream_id: str
    academie: str | None
    data: dict[str, Any]


@dataclass
class HistoryBuilder:
    rng: random.Random
    validate: bool = True
    edges: bool = False
    drafts: list[_Draft] = field(default_factory=list)
    _n: int = 0
    _day_starts: dict[date, int] = field(default_factory=dict)

    def at(self, day: date, hour: int = 10) -> datetime:
        """The instant of an event of ``day`` at ``hour`` (UTC). With ``edges`` each day's events
        are moved, in their order, into one random hour of that day, half the time the one
        around midnight in Paris (22:00 UTC in summer, 23:00 in winter), where the UTC date and
        the Paris date differ."""
        if not self.edges:
            return _at(day, hour)
        start = self._day_starts.get(day)
        if start is None:
            near_midnight = self.rng.random() < 0.5
            start = self._day_starts[day] = self.rng.randint(21 * 60, 23 * 60 + 10) if near_midnight \
                else self.rng.randint(0, 23 * 60 + 10)
        return datetime.combine(day, time(0), tzinfo=timezone.utc) + timedelta(minutes=start + 2 * hour)

    def emit(self, at: datetime, type_: str, stream_id: str, academie: str | None, data: dict[str, Any]) -> None:
        self._n += 1
        self.drafts.append(_Draft(at, self._n, type_, stream_id, academie, {"type": type_, **data}))

    def envelopes(self) -> list[Envelope]:
        """In time order (a valid interleaving of the three sources), positions per source and
        versions per stream, as the producing stores number them."""
        positions: dict[str, int] = {}
        versions: dict[tuple[str, str], int] = {}
        out = []
        for d in sorted(self.drafts, key=lambda d: (d.at, d.seq)):
            model = model_for(d.type)
            data = model.model_validate(d.data).model_dump(mode="json") if self.validate else d.data
            positions[model.SOURCE] = positions.get(model.SOURCE, 0) + 1
            version = versions[(model.SOURCE, d.stream_id)] = versions.get((model.SOURCE, d.stream_id), 0) + 1
            out.append(Envelope.model_construct(
                id=uuid.UUID(int=self.rng.getrandbits(128), version=4), type=d.type, schema_version=model.VERSION,
                source=model.SOURCE, stream_id=d.stream_id, stream_version=version, occurred_at=d.at, recorded_at=d.at,
                correlation_id=uuid.UUID(int=self.rng.getrandbits(128), version=4), causation_id=None,
                actor=_SYSTEM, academie=d.academie, data=data, position=positions[model.SOURCE]))
        return out


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=timezone.utc)


def _edge_days(year: int) -> list[date]:
    """Days of a school year where a month, or the UTC offset of Paris, changes overnight."""
    month_ends = [date(y, m + 1, 1) - timedelta(days=1) for y, m in
                  [(year, 10), (year, 11), (year + 1, 1), (year + 1, 2), (year + 1, 3), (year + 1, 4)]]
    changes = [_last_sunday(year, 10), _last_sunday(year + 1, 3)]
    return month_ends + [date(year, 12, 31)] + changes + [day - timedelta(days=1) for day in changes]


def _last_sunday(year: int, month: int) -> date:
    return max(date(year, month, d) for d in range(25, 32) if date(year, month, d).weekday() == 6)


def _calendar(start_year: int) -> dict[str, Any]:
    return {
        "submission_deadline": f"{start_year}-05-31T21:59:00Z",
        "attribution_date": f"{start_year}-07-04",
        "work_meeting_window": {"start": f"{start_year}-09-15", "end": f"{start_year}-10-17"},
        "bilan_window": {"start": f"{start_year + 1}-05-11", "end": f"{start_year + 1}-06-19"},
        "renewal_deadline": f"{start_year + 1}-06-30T21:59:00Z",
    }


def _school(rng: random.Random, academie: str) -> dict[str, Any]:
    s = rng.choice([s for s in schools() if s.academie.value == academie])
    return {"uai": s.uai, "name": s.name, "academie": academie, "departement": s.departement,
            "commune": s.commune, "education_prioritaire": s.education_prioritaire.value,
            "ruralite": s.ruralite.value}


def _reclassified(rng: random.Random, school: dict[str, Any]) -> dict[str, Any]:
    """The same school under a new carte of éducation prioritaire / rurality grid."""
    return {**school, "education_prioritaire": rng.choice([e for e in EP if e != school["education_prioritaire"]]),
            "ruralite": rng.choice([r for r in RURALITE if r != school["ruralite"]])}


def _classes(rng: random.Random, prefix: str) -> list[dict[str, Any]]:
    return [{"class_id": f"{prefix}-c{i}", "label": f"Classe {i}", "level": rng.choice(LEVELS),
             "pupils": rng.randint(12, 30), "objective": "Découvrir un métier et un lieu"}
            for i in range(rng.randint(1, 3))]


def history(rng: random.Random, *, campaigns: int = 2, candidatures: int = 6, start_year: int = 2025,
            validate: bool = True, prefix: str = "", edges: bool = False, erasures: bool = False) -> list[Envelope]:
    """A random valid history; roughly 15 events per candidature. ``prefix`` starts every id, so
    that two histories can share one log. ``edges``: instants all over the day, half of the days
    around midnight in Paris, and action dates weighted on month ends and daylight-saving changes.
    ``erasures``: referents designated on the programme years (some on several partnerships) and
    some of them erased (``PersonErased``) at a random point after their last designation; without
    it the history is the one drawn before erasures existed."""
    b = HistoryBuilder(rng, validate, edges)
    camps = [_campaign(b, f"{prefix}{i}", start_year) for i in range(campaigns)]
    for i in range(candidatures):
        _candidature(b, f"{prefix}{i}", rng.choice(camps))
    if erasures:
        _referents_and_erasures(b, random.Random(rng.getrandbits(64)), prefix)
    return b.envelopes()


def _referents_and_erasures(b: HistoryBuilder, sub: random.Random, prefix: str) -> None:
    """Referents on most programme years, drawn from one pool so that a person may be designated
    on several partnerships; then about half of them erased, any time from their last
    designation to a while after the history's last event (so before some of their partnerships'
    later events). Names, e-mails and phones are unique strings a byte search can find."""
    opened = [d for d in sorted(b.drafts, key=lambda d: (d.at, d.seq)) if d.type == "ProgrammeYearOpened"]
    people: list[dict[str, str]] = []
    last_designated: dict[str, datetime] = {}
    for d in opened:
        for side in [s for s in ("school", "partner") if sub.random() < 0.6]:
            if people and sub.random() < 0.3:
                person = sub.choice(people)
            else:
                n = len(people)
                token = f"{sub.getrandbits(40):010x}"
                person = {"referent_id": f"{prefix}ref-{n}", "name": f"Référente Zoé {token}",
                          "email": f"zoe.{token}@ac-test.fr", "phone": f"+33 6 {token}"}
                people.append(person)
            at = d.at + timedelta(days=sub.randint(0, 30), minutes=1)
            b.emit(at, "ReferentDesignated", d.stream_id, d.academie, {
                "partnership_id": d.data["partnership_id"], "school_year": d.data["school_year"],
                "year_index": d.data["year_index"], "side": side, "role": "teacher" if side == "school" else "collaborator",
                **person})
            last_designated[person["referent_id"]] = max(at, last_designated.get(person["referent_id"], at))
    end = max((d.at for d in b.drafts), default=_at(date(2025, 1, 1)))
    for person in people:
        if sub.random() < 0.5:
            first = last_designated[person["referent_id"]]
            at = first + timedelta(minutes=1 + sub.randint(0, int((end - first).total_seconds() // 60) + 60 * 24 * 30))
            b.emit(at, "PersonErased", f"person:{person['referent_id']}", None, {
                "person_id": person["referent_id"], "reason": sub.choice(["request", "retention"]),
                "erased_at": at.isoformat()})


def _campaign(b: HistoryBuilder, i: str, start_year: int) -> dict[str, Any]:
    rng = b.rng
    year = start_year + rng.randint(0, 1)
    academie, dispositif = rng.choice(ACADEMIES), rng.choice(DISPOSITIFS)
    later = random.Random(f"{i}:{academie}:{dispositif}:{year}")
    if later.random() < 0.4:  # centres sociaux and CNR (issue 12's figures)
        dispositif = later.choice(LATER_DISPOSITIFS)
    cid = f"camp-{i}-{academie}-{dispositif}"
    opened = date(year, 3, 1) + timedelta(days=rng.randint(0, 20))
    camp = {"campaign_id": cid, "academie": academie, "dispositif": dispositif, "school_year": f"{year}-{year + 1}",
            "year": year, "opened": opened, "offers": []}
    b.emit(b.at(opened), "CampaignOpened", f"campaign-{cid}", academie, {
        "campaign_id": cid, "academie": academie, "dispositif": dispositif, "school_year": camp["school_year"],
        "title": f"Appel {dispositif} {academie}", "calendar": _calendar(year), "opened_by": "daac"})
    for k in range(rng.randint(0, 2)):
        oid = f"{cid}-offer{k}"
        camp["offers"].append(oid)
        offer = {
            "offer_id": oid, "campaign_id": cid, "academie": academie, "dispositif": dispositif,
            "partner": {"partner_id": f"partner-{oid}", "kind": "cultural_structure", "name": f"Structure {oid}",
                        "address": "1 rue de la Paix", "commune": "Paris"},
            "title": "Visites et ateliers", "resources": [{"kind": "visit", "description": "Visite guidée"}],
            "eac_domains": rng.sample(range(1, 18), rng.randint(0, 3)), "levels": list(LEVELS),
            "capacity_classes": 10}
        b.emit(b.at(opened + timedelta(days=1 + k)), "OfferPublished", f"offer-{oid}", academie, offer)
        if rng.random() < 0.3:  # the partner changes its domains, maybe after candidatures chose it
            b.emit(b.at(opened + timedelta(days=rng.randint(2, 60)), 14), "OfferUpdated", f"offer-{oid}", academie,
                   {**offer, "eac_domains": rng.sample(range(1, 18), rng.randint(0, 3))})
    if rng.random() < 0.5:
        b.emit(b.at(date(year, 6, 1)), "CampaignClosed", f"campaign-{cid}", academie,
               {"campaign_id": cid, "academie": academie, "reason": "deadline"})
    return camp


def _candidature(b: HistoryBuilder, i: str, camp: dict[str, Any]) -> None:
    rng = b.rng
    year, academie = camp["year"], camp["academie"]
    cand_id = f"cand-{i}"
    stream = f"candidature-{cand_id}"
    content = {"candidature_id": cand_id, "campaign_id": camp["campaign_id"], "dispositif": camp["dispositif"],
               "school": _school(rng, academie), "classes": _classes(rng, cand_id),
               "school_objective": "Ouvrir l'école sur son territoire",
               "offer_id": rng.choice(camp["offers"]) if camp["offers"] and rng.random() < 0.7 else None}
    organised = _acm_organiser(content) if camp["dispositif"] == "mercredi" else None
    if organised is not None:
        content = organised
    if camp["dispositif"] == "concertation":
        content = _cnr_network(content)
    day = camp["opened"] + timedelta(days=rng.randint(3, 60))
    b.emit(b.at(day), "CandidatureSubmitted", stream, academie, content)
    if rng.random() < 0.4:
        day += timedelta(days=rng.randint(1, 10))
        amended_classes = _classes(rng, cand_id)  # drawn either way: the same draws follow
        content = {**content, "classes": amended_classes if organised is None else []}
        if rng.random() < 0.5 and content["school"] is not None:  # the school's classification changed,
            content["school"] = _reclassified(rng, content["school"])  # or another offer was chosen
        if camp["offers"] and rng.random() < 0.5:
            content["offer_id"] = rng.choice(camp["offers"])
        b.emit(b.at(day), "CandidatureAmended", stream, academie, content)
    if rng.random() < 0.2:
        day += timedelta(days=rng.randint(1, 10))
        b.emit(b.at(day), "CandidatureReturnedForCorrection", stream, academie,
               {"candidature_id": cand_id, "campaign_id": camp["campaign_id"], "reason": "Pièce manquante"})
        if rng.random() < 0.25:  # never corrected: it stays returned (or the school withdraws it)
            if rng.random() < 0.5:
                b.emit(b.at(day + timedelta(days=rng.randint(1, 30))), "CandidatureWithdrawn", stream, academie,
                       {"candidature_id": cand_id, "campaign_id": camp["campaign_id"]})
            return
        day += timedelta(days=rng.randint(1, 10))
        b.emit(b.at(day), "CandidatureResubmitted", stream, academie, content)
    if rng.random() < 0.5:
        b.emit(b.at(day + timedelta(days=2)), "CandidatureReviewed", stream, academie, {
            "candidature_id": cand_id, "campaign_id": camp["campaign_id"], "reviewer": "daac-1",
            "avis": rng.choice(["favourable", "reserve", "defavorable"])})
    outcome = rng.random()
    decided = max(date(year, 7, 4), day + timedelta(days=3))
    if rng.random() < 0.2:  # a place freed up: attributed (or rejected) after the attribution date
        decided = date(year, 7, 4) + timedelta(days=rng.randint(1, 75))
    if outcome < 0.15:
        b.emit(b.at(day + timedelta(days=3)), "CandidatureWithdrawn", stream, academie,
               {"candidature_id": cand_id, "campaign_id": camp["campaign_id"]})
    elif outcome < 0.35:
        b.emit(b.at(decided), "CandidatureRejected", stream, academie,
               {"candidature_id": cand_id, "campaign_id": camp["campaign_id"], "reason": "Capacité atteinte"})
    elif outcome < 0.9:
        _partnership(b, cand_id, camp, content, decided)


def _acm_organiser(content: dict[str, Any]) -> dict[str, Any] | None:
    """Some plan mercredi candidatures come from an ACM organiser (seed 001): its groups by age
    band instead of classes, held in the drawn school (then named as a place) or in a dedicated
    place with that school as partner. Drawn from its own generator (seeded by the candidature and
    its school), so the history's generator is not consumed by the choice itself."""
    school = content["school"]
    sub = random.Random(f"acm:{content['candidature_id']}:{school['uai']}")
    if sub.random() >= 0.4:
        return None
    in_the_school = sub.random() < 0.5
    place = ({"kind": "school", "uai": school["uai"], "name": school["name"]} if in_the_school else
             {"kind": "dedicated", "name": "Centre de loisirs", "address": "1 place de la Mairie"})
    # in a dedicated place, sometimes with no partner school at all: the organiser alone
    partner_school = None if in_the_school or sub.random() < 0.5 else school
    ages = sub.sample([(3, 5), (6, 8), (9, 11)], sub.randint(1, 3))
    organiser = {"partner_id": f"acm-{content['candidature_id']}", "kind": sub.choice(["commune", "association",
                                                                                       "centre_loisirs"]),
                 "name": "Accueil de loisirs du mercredi", "academie": school["academie"],
                 "departement": school["departement"], "commune": school.get("commune") or "Commune",
                 "places": [place], "email": f"contact@acm-{content['candidature_id']}.test",
                 "groups": [{"group_id": f"g{low}", "age_min": low, "age_max": high, "children": sub.randint(8, 40)}
                            for low, high in ages]}
    return {**content, "school": partner_school, "classes": [], "organiser": organiser}


def _cnr_network(content: dict[str, Any]) -> dict[str, Any]:
    """Some CNR projects are carried by several schools of the académie together (seed 003:
    « écoles ou groupes d'écoles »): drawn from their own generator, as ``_acm_organiser``."""
    school = content["school"]
    sub = random.Random(f"cnr:{content['candidature_id']}:{school['uai']}")
    others = {s["uai"]: s for s in (_school(sub, school["academie"]) for _ in range(sub.randint(0, 2)))}
    others.pop(school["uai"], None)
    return {**content, "associated_schools": list(others.values())}


_LEVEL_AT_AGE = {3: "PS", 6: "CP", 9: "CM1"}


def _attributed_side(content: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The school and classes of the attribution, as candidatures writes them: an ACM organiser's
    groups as classes 'ACM a-b ans', its school place when it names no partner school."""
    organiser = content.get("organiser")
    if organiser is None:
        return content["school"], content["classes"]
    school = content["school"]
    place = organiser["places"][0]
    if school is None and place.get("uai"):
        school = {"uai": place["uai"], "name": place["name"], "academie": organiser["academie"],
                  "departement": organiser["departement"], "education_prioritaire": "none", "ruralite": None}
    return school, [{"class_id": g["group_id"], "label": f"ACM {g['age_min']}-{g['age_max']} ans",
                     "level": _LEVEL_AT_AGE[g["age_min"]], "pupils": g["children"], "objective": "Projet éducatif"}
                    for g in organiser["groups"]]


def _partnership(b: HistoryBuilder, cand_id: str, camp: dict[str, Any], content: dict[str, Any], day: date) -> None:
    rng = b.rng
    year, academie = camp["year"], camp["academie"]
    pid = f"p-{cand_id}"
    school, classes = _attributed_side(content)
    sy = camp["school_year"]
    partner = {"partner_id": "partner-x", "kind": "cultural_structure", "name": "Structure partenaire"}
    b.emit(b.at(day), "PartnershipAttributed", f"candidature-{cand_id}", academie, {
        "partnership_id": pid, "candidature_id": cand_id, "campaign_id": camp["campaign_id"],
        "dispositif": camp["dispositif"], "school_year": sy, "year_index": 1, "school": school, "partner": partner,
        "offer_id": content.get("offer_id"), "classes": classes, "calendar": _calendar(year),
        **({"organiser": content["organiser"]} if content.get("organiser") else {}),
        **({"associated_schools": content["associated_schools"]} if content.get("associated_schools") else {}),
        **({"late": True, "late_reason": "Place libérée par un désistement"} if day > date(year, 7, 4) else {})})
    side = {"school": school, "organiser": content.get("organiser"),
            "associated_schools": content.get("associated_schools") or []}
    _programme_year(b, pid, cand_id, camp, side, partner, classes, sy, 1, year, day, content.get("offer_id"))
    if rng.random() < 0.5:
        renewal_day = date(year + 1, 6, rng.randint(1, 25))
        nsy = f"{year + 1}-{year + 2}"
        new_classes = _classes(rng, pid + "-y2")
        b.emit(b.at(renewal_day), "RenewalRequested", f"candidature-{cand_id}", academie, {
            "partnership_id": pid, "candidature_id": cand_id, "school_year": nsy, "year_index": 2,
            "classes": new_classes, "motivation": "Continuer le travail engagé"})
        decided = date(year + 1, 7, rng.randint(5, 20))
        if rng.random() < 0.4 and school is not None:  # a new carte of éducation prioritaire
            school = _reclassified(rng, school)  # from the new school year
            side = {**side, "school": school}
        if rng.random() < 0.65:
            b.emit(b.at(decided), "RenewalGranted", f"candidature-{cand_id}", academie, {
                "partnership_id": pid, "candidature_id": cand_id, "dispositif": camp["dispositif"],
                "school_year": nsy, "year_index": 2, "school": school, "partner": partner, "classes": new_classes,
                "calendar": _calendar(year + 1), **({"organiser": side["organiser"]} if side["organiser"] else {})})
            # as programmes does: year 1 closes as renewed when year 2 opens (it still counts as
            # active until its school year ends)
            b.emit(b.at(decided, 11), "ProgrammeYearClosed", f"partnership-{pid}", academie, {
                "partnership_id": pid, "school_year": sy, "year_index": 1, "outcome": "renewed",
                "closed_at": b.at(decided, 11).isoformat(), "bilan_recorded": False})
            _programme_year(b, pid, cand_id, camp, side, partner, new_classes, nsy, 2, year + 1, decided, None)
        else:
            b.emit(b.at(decided), "RenewalDeclined", f"candidature-{cand_id}", academie, {
                "partnership_id": pid, "candidature_id": cand_id, "school_year": nsy, "year_index": 2,
                "reason": "Pas de bilan"})
            if rng.random() < 0.5:  # as programmes does when it is told: year 1 closes, the partnership ends
                closed = b.at(decided, 11)
                base = {"partnership_id": pid, "school_year": sy, "year_index": 1}
                b.emit(closed, "ProgrammeYearClosed", f"partnership-{pid}", academie, {
                    **base, "outcome": "not_renewed", "closed_at": closed.isoformat(), "bilan_recorded": False})
                b.emit(closed, "PartnershipEnded", f"partnership-{pid}", academie, {
                    **base, "reason": "renewal_declined", "ended_at": closed.isoformat(), "years": 1})


def _programme_year(b: HistoryBuilder, pid: str, cand_id: str, camp: dict[str, Any], side: dict[str, Any],
                    partner: dict[str, Any], classes: list[dict[str, Any]], sy: str, index: int, year: int,
                    opened: date, offer_id: str | None) -> None:
    rng = b.rng

    def released(at: datetime, class_ids: list[str], reason: str) -> None:
        # as candidatures does: classes of a first year that stops give their places back to the offer
        if index == 1 and offer_id:
            b.emit(at + timedelta(minutes=1), "OfferPlacesReleased", f"offer-{offer_id}", academie, {
                "offer_id": offer_id, "campaign_id": camp["campaign_id"], "candidature_id": cand_id,
                "partnership_id": pid, "class_ids": class_ids, "classes": len(class_ids),
                "remaining_classes": rng.randint(len(class_ids), 10), "reason": reason})

    academie = camp["academie"]
    stream = f"partnership-{pid}"
    base = {"partnership_id": pid, "school_year": sy, "year_index": index}
    at = b.at(opened, 11)
    b.emit(at, "ProgrammeYearOpened", stream, academie, {
        **base, "candidature_id": cand_id, "campaign_id": camp["campaign_id"], "dispositif": camp["dispositif"],
        **{k: v for k, v in side.items() if v}, "partner": partner, "offer_id": None,
        "classes": [{k: c[k] for k in ("class_id", "label", "level", "pupils")} for c in classes],
        "calendar": _calendar(year), "year_starts_on": f"{year}-09-01", "year_ends_on": f"{year + 1}-07-04",
        "opened_by": "attribution" if index == 1 else "renewal"})
    if camp["dispositif"] == "concertation":
        # A CNR project's steps: any of the three, in any order (seed 003: optional, distinct).
        steps = [s for s in ("concertation", "projet_pedagogique", "financement") if rng.random() < 0.6]
        rng.shuffle(steps)
        for n, name in enumerate(steps):
            done = b.at(opened + timedelta(days=rng.randint(0, 200)), 14) + timedelta(minutes=n)
            b.emit(done, "StepCompleted", stream, academie, {
                **base, "track": "concertation", "step": name,
                "step_number": ("concertation", "projet_pedagogique", "financement").index(name) + 1,
                "completed_at": done.isoformat(), "summary": f"Étape {name}"})
    if rng.random() < 0.7:
        held = date(year, 9, 20) + timedelta(days=rng.randint(0, 50))  # sometimes after the window
        mid = f"{pid}-{index}-work"
        b.emit(b.at(held - timedelta(days=7)), "MeetingScheduled", stream, academie, {
            **base, "meeting_id": mid, "kind": "work", "starts_at": b.at(held).isoformat(), "place": "École"})
        b.emit(b.at(held, 16), "MeetingHeld", stream, academie, {
            **base, "meeting_id": mid, "kind": "work", "held_at": b.at(held, 15).isoformat(),
            "minutes": "Programme arrêté"})
    class_ids = [c["class_id"] for c in classes]
    if len(class_ids) > 1 and rng.random() < 0.3:  # a class leaves before any action
        gone = rng.choice(class_ids)
        class_ids = [c for c in class_ids if c != gone]
        gone_at = b.at(opened + timedelta(days=rng.randint(1, 60)), 15)
        b.emit(gone_at, "ClassCancelled", stream, academie, {
            **base, "class_id": gone, "reason": "Changement d'emploi du temps", "cancelled_action_ids": []})
        released(gone_at, [gone], "class_cancelled")
    for a in range(rng.randint(0, 3)):
        aid = f"{pid}-{index}-a{a}"
        kind = rng.choice(KINDS)
        when = date(year, 10, 1) + timedelta(days=rng.randint(0, 200))
        if b.edges and rng.random() < 0.5:
            when = rng.choice(_edge_days(year))
        scheduled = date(year, 9, 25) + timedelta(days=rng.randint(0, 5))
        chosen = rng.sample(class_ids, rng.randint(1, len(class_ids)))
        b.emit(b.at(scheduled, 12), "ActionScheduled", stream, academie, {
            **base, "action_id": aid, "kind": kind, "title": f"Action {a}", "class_ids": chosen,
            "starts_at": b.at(when, 9).isoformat(), "duration_minutes": 120, "place": "Musée"})
        step = b.at(scheduled, 13) + timedelta(days=rng.randint(1, 20))
        if rng.random() < 0.3:
            moved = when + timedelta(days=rng.randint(-20, 45))
            b.emit(step, "ActionRescheduled", stream, academie, {
                **base, "action_id": aid, "kind": kind, "class_ids": chosen, "starts_at": b.at(moved, 9).isoformat(),
                "previous_starts_at": b.at(when, 9).isoformat(), "duration_minutes": 120, "place": "Musée"})
            when = moved
            step += timedelta(days=1)
        fate = rng.random()
        if fate < 0.2:
            b.emit(step, "ActionCancelled", stream, academie, {
                **base, "action_id": aid, "kind": kind, "class_ids": chosen, "reason": "Grève"})
        elif fate < 0.75:
            done = max(b.at(when, 11), step)
            b.emit(done, "ActionCompleted", stream, academie, {
                **base, "action_id": aid, "kind": kind, "class_ids": chosen, "completed_at": done.isoformat(),
                "participants": [{"class_id": c, "pupils_present": rng.randint(5, 20)} for c in chosen],
                "staff_present": rng.randint(0, 3), "families_present": rng.randint(0, 4)})
    if rng.random() < 0.3:
        rid = f"rem-{pid}-{index}"
        due = b.at(date(year, 10, 10), 7)
        b.emit(b.at(opened, 12), "ReminderScheduled", f"reminder-{rid}", academie, {
            "reminder_id": rid, "rule": "work_meeting_missing", "dedup_key": rid, "due_at": due.isoformat(),
            "recipients": [{"role": "school", "name": "École", "email": "ecole@example.fr"}],
            "subject": {"academie": academie, "dispositif": camp["dispositif"], "school_year": sy,
                        "partnership_id": pid, "uai": (side["school"] or {}).get("uai")},
            "title": "Réunion de travail à organiser"})
        outcome = rng.random()
        if outcome < 0.5:
            b.emit(due, "ReminderSent", f"reminder-{rid}", academie, {
                "reminder_id": rid, "rule": "work_meeting_missing", "dedup_key": rid, "message_id": f"<{rid}@j>",
                "sent_at": due.isoformat(), "recipients": [{"role": "school", "name": "École",
                                                            "email": "ecole@example.fr"}]})
        elif outcome < 0.8:
            b.emit(due, "ReminderFailed", f"reminder-{rid}", academie, {
                "reminder_id": rid, "rule": "work_meeting_missing", "dedup_key": rid, "error": "550 refused",
                "attempt": 3, "failed_at": due.isoformat(), "final": rng.random() < 0.7})
        else:
            # Cancelled the day before, or while its mail was on the wire (then recorded as sent).
            on_the_wire = outcome < 0.9
            cancelled = due + timedelta(seconds=1) if on_the_wire else due - timedelta(days=1)
            b.emit(cancelled, "ReminderCancelled", f"reminder-{rid}", academie, {
                "reminder_id": rid, "rule": "work_meeting_missing", "dedup_key": rid, "reason": "satisfied",
                "cancelled_at": cancelled.isoformat()})
            if on_the_wire:
                sent = due + timedelta(seconds=2)
                b.emit(sent, "ReminderSent", f"reminder-{rid}", academie, {
                    "reminder_id": rid, "rule": "work_meeting_missing", "dedup_key": rid, "message_id": f"<{rid}@j>",
                    "sent_at": sent.isoformat(), "recipients": [{"role": "school", "name": "École",
                                                                 "email": "ecole@example.fr"}]})
    # What issue 12's figures read draws from its own generator, so that the histories above stay
    # the ones the other tests were written against.
    sub = random.Random(f"{pid}:{index}")
    if camp["dispositif"] == "centre_social":
        _rencontres(b, sub, stream, academie, base, year)
    if camp["dispositif"] == "concertation":
        _funding(b, sub, stream, academie, base, year)
    if rng.random() < 0.5:
        recorded = b.at(date(year + 1, 6, 1) + timedelta(days=rng.randint(0, 40)), 17)
        wish = rng.random() < 0.7
        school_part = {"satisfaction": rng.randint(1, 5), "wish_to_continue": wish}
        partner_part = {"satisfaction": rng.randint(1, 5), "wish_to_continue": wish}
        school_answers, partner_answers = _answers(sub, "school"), _answers(sub, "partner")
        # Both shapes of the bilan: the joint one of old (both parts typed at once) and, one year in
        # three, the school's own part first, then (half the time) the partner's, then the bilan —
        # closed without a partner part otherwise (a CNR project, or the académie closing it). The
        # joint bilan repeats the parts' answers; an académie typing the bilan itself after the
        # school's part may give other answers for the school (its part's count).
        per_side = (index + len(pid)) % 3 == 0
        partner_side = per_side and sub.random() < 0.5
        joint_answers = school_answers + partner_answers
        if per_side:
            b.emit(recorded - timedelta(hours=1), "BilanSideRecorded", stream, academie, {
                **base, "side": "school", "recorded_at": recorded.isoformat(), "evaluation": school_part,
                "questionnaire": school_answers})
            if partner_side:
                b.emit(recorded - timedelta(minutes=30), "BilanSideRecorded", stream, academie, {
                    **base, "side": "partner", "recorded_at": recorded.isoformat(), "evaluation": partner_part,
                    "questionnaire": partner_answers})
            else:
                joint_answers = school_answers if sub.random() < 0.7 else _answers(sub, "school")
        b.emit(recorded, "BilanRecorded", stream, academie, {
            **base, "bilan_meeting_id": f"{pid}-{index}-bilan", "recorded_at": recorded.isoformat(), "per_class": [],
            "planned": 0, "realised": 0, "cancelled": 0, "pupils_reached": 0,
            "school": school_part, "partner": partner_part if partner_side or not per_side else None,
            "questionnaire": joint_answers, "wish_to_continue": wish})
    if rng.random() < 0.15:
        # at the end of the school year, or during it (the year stops counting as active then)
        midyear = rng.random() < 0.4
        ended = b.at(opened + timedelta(days=rng.randint(1, 150)) if midyear else date(year + 1, 7, 6), 18)
        b.emit(ended, "ProgrammeYearClosed", stream, academie, {
            **base, "outcome": "ended", "closed_at": ended.isoformat(), "bilan_recorded": False})
        b.emit(ended, "PartnershipEnded", stream, academie, {
            **base, "reason": "withdrawn" if midyear else "completed", "ended_at": ended.isoformat(), "years": index})
        if midyear:
            released(ended, class_ids, "partnership_ended")


def _answers(sub: random.Random, side: str) -> list[dict[str, Any]]:
    """One side's answers to some of the questions (spaces and case vary, some left blank)."""
    return [{"side": side, "question": q if sub.random() < 0.8 else f"  {q} ", "answer": sub.choice(answers)}
            for q, answers in QUESTIONS.items() if sub.random() < 0.8]


def _rencontres(b: HistoryBuilder, sub: random.Random, stream: str, academie: str, base: dict[str, Any],
                year: int) -> None:
    """Centres sociaux (seed 002): up to three rencontres, held or not, with what they produced; now
    and then another meeting that produced something too."""
    for number in range(1, sub.randint(1, 3) + 1):
        mid = f"{base['partnership_id']}-{base['year_index']}-r{number}"
        when = date(year, 10, 1) + timedelta(days=70 * (number - 1) + sub.randint(0, 30))
        b.emit(b.at(when - timedelta(days=14), 9), "MeetingScheduled", stream, academie, {
            **base, "meeting_id": mid, "kind": "rencontre", "rencontre_number": number,
            "starts_at": b.at(when).isoformat(), "place": "Centre social", "title": f"Rencontre {number}"})
        if sub.random() < 0.85:
            b.emit(b.at(when, 17), "MeetingHeld", stream, academie, {
                **base, "meeting_id": mid, "kind": "rencontre", "held_at": b.at(when, 16).isoformat(),
                "minutes": "Échanges", "productions": _productions(sub, mid)})
    if sub.random() < 0.2:
        mid = f"{base['partnership_id']}-{base['year_index']}-suivi"
        when = date(year + 1, 3, 10) + timedelta(days=sub.randint(0, 20))
        b.emit(b.at(when - timedelta(days=5), 9), "MeetingScheduled", stream, academie, {
            **base, "meeting_id": mid, "kind": "follow_up", "starts_at": b.at(when).isoformat(), "place": "École"})
        b.emit(b.at(when, 17), "MeetingHeld", stream, academie, {
            **base, "meeting_id": mid, "kind": "follow_up", "held_at": b.at(when, 16).isoformat(),
            "minutes": "Point d'étape", "productions": _productions(sub, mid)})


def _productions(sub: random.Random, mid: str) -> list[dict[str, Any]]:
    return [{"kind": sub.choice(("video", "paper", "other")), "title": f"Production {k} de {mid}",
             "url": f"https://example.fr/{mid}/{k}" if sub.random() < 0.6 else None} for k in range(sub.randint(0, 2))]


def _funding(b: HistoryBuilder, sub: random.Random, stream: str, academie: str, base: dict[str, Any],
             year: int) -> None:
    """CNR (seed 003): the fonds d'innovation pédagogique asked, granted (or not yet), spent."""
    for f in range(sub.randint(0, 2)):
        fid = f"f{f}"
        asked = sub.randint(5, 50) * 100
        requested = b.at(date(year, 11, 5) + timedelta(days=sub.randint(0, 40)), 9)
        b.emit(requested, "FundingRequested", stream, academie, {
            **base, "funding_id": fid, "amount_eur": asked, "requested_at": requested.isoformat()})
        if sub.random() < 0.3:
            continue
        granted, amount = b.at(date(year + 1, 1, 10) + timedelta(days=sub.randint(0, 30)), 9), sub.randint(0, asked)
        b.emit(granted, "FundingGranted", stream, academie, {
            **base, "funding_id": fid, "amount_eur": amount, "granted_by": "DASEN", "granted_at": granted.isoformat()})
        total = 0
        for x in range(sub.randint(0, 3)):
            spend = sub.randint(1, max(1, amount // 3))
            if total + spend > amount:
                break
            total += spend
            day = date(year + 1, 2, 15) + timedelta(days=20 * x + sub.randint(0, 10))
            b.emit(b.at(day, 15), "FundingSpent", stream, academie, {
                **base, "funding_id": fid, "expense_id": f"{fid}-e{x}", "amount_eur": spend, "label": "Matériel",
                "spent_on": day.isoformat(), "total_spent_eur": total})
