"""Rules on a candidature's content: the school's identity and the dispositif-specific ones.

Each rule is a function named after what it enforces; it raises :class:`DomainError` naming the
rule and the field at fault, and returns nothing when the content complies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from jumelage_contracts.candidatures import (
    ChildGroup,
    ClassEntry,
    Concertation,
    Organiser,
    PartnerCompany,
    PartnerRef,
    SchoolRef,
    Wishes,
)
from jumelage_contracts.reference import (
    Academie,
    CultureTier,
    Dispositif,
    Level,
    academie_of_uai,
    departement_of_uai,
    normalise_departement,
)

from .errors import DomainError


@dataclass(frozen=True)
class CandidatureContent:
    """What a school (or, for the plan mercredi, an ACM organiser) states in its candidature
    (everything but the ids and the dispositif)."""

    school: SchoolRef | None
    classes: tuple[ClassEntry, ...]
    school_objective: str
    offer_id: str | None = None
    partner_wished: PartnerRef | None = None
    wishes: Wishes = Wishes()
    tier: CultureTier | None = None
    partner_company: PartnerCompany | None = None
    concertation: Concertation | None = None
    associated_schools: tuple[SchoolRef, ...] = ()
    organiser: Organiser | None = None

    @property
    def schools(self) -> tuple[SchoolRef, ...]:
        """Every school of the candidature: the one carrying it first."""
        return tuple(s for s in (self.school, *self.associated_schools) if s is not None)

    @property
    def academie(self) -> Academie:
        """The applicant's académie: the school's, or the ACM organiser's."""
        if self.organiser is not None:
            return self.organiser.academie
        assert self.school is not None
        return self.school.academie

    @property
    def entries(self) -> tuple[ClassEntry, ...]:
        """What takes places on an offer and builds a programme: the school's classes, or the ACM
        organiser's groups, one class each (see ``group_as_class``)."""
        if self.organiser is None:
            return self.classes
        return tuple(group_as_class(group, self.school_objective) for group in self.organiser.groups)

    def as_fields(self) -> dict:
        return dict(
            school=self.school, classes=list(self.classes), school_objective=self.school_objective,
            offer_id=self.offer_id, partner_wished=self.partner_wished, wishes=self.wishes, tier=self.tier,
            partner_company=self.partner_company, concertation=self.concertation,
            associated_schools=list(self.associated_schools), organiser=self.organiser,
        )

    @classmethod
    def of(cls, event) -> "CandidatureContent":
        """The content carried by a CandidatureDrafted/Submitted/Amended/Resubmitted event."""
        return cls(
            school=event.school, classes=tuple(event.classes), school_objective=event.school_objective,
            offer_id=event.offer_id, partner_wished=event.partner_wished, wishes=event.wishes, tier=event.tier,
            partner_company=event.partner_company, concertation=event.concertation,
            associated_schools=tuple(event.associated_schools), organiser=event.organiser,
        )


# Seed 001: an ACM takes in children of the écoles maternelles and élémentaires; a group is placed
# at the level children of its youngest age are in at school, so the offer's levels and the
# programme's per-class actions apply to it unchanged.
_LEVEL_AT_AGE = {3: Level.PS, 4: Level.MS, 5: Level.GS, 6: Level.CP, 7: Level.CE1, 8: Level.CE2, 9: Level.CM1,
                 10: Level.CM2, 11: Level.SIXIEME, 12: Level.CINQUIEME, 13: Level.QUATRIEME, 14: Level.TROISIEME,
                 15: Level.SECONDE, 16: Level.PREMIERE, 17: Level.TERMINALE}


def group_as_class(group: ChildGroup, objective: str) -> ClassEntry:
    """An ACM group as the class the partnership's programme is built for: its id, the label
    'ACM 6-8 ans', the level of its youngest children, its children as pupils."""
    return ClassEntry(class_id=group.group_id, label=group.label, level=_LEVEL_AT_AGE[group.age_min],
                      pupils=group.children, objective=objective)


# -- the school -----------------------------------------------------------------------------


def school_must_match_its_uai(school: SchoolRef, field: str = "school") -> None:
    """The UAI's check letter is verified by the type; its département and académie must be the
    ones declared."""
    departement = departement_of_uai(school.uai)
    if normalise_departement(school.departement) != departement:
        raise DomainError("school_must_match_its_uai",
                          f"UAI {school.uai} is in département {departement}, not {school.departement}",
                          f"{field}.departement")
    academie = academie_of_uai(school.uai)
    if school.academie != academie:
        raise DomainError("school_must_match_its_uai",
                          f"UAI {school.uai} belongs to académie {academie}, not {school.academie}",
                          f"{field}.academie")


def school_must_belong_to_the_campaign_academie(school: SchoolRef, campaign_academie: str,
                                                field: str = "school") -> None:
    if school.academie != campaign_academie:
        raise DomainError("school_must_belong_to_the_campaign_academie",
                          f"the campaign is for académie {campaign_academie}", f"{field}.academie")


def every_school_must_belong_to_the_campaign_academie(content: "CandidatureContent", campaign_academie: str) -> None:
    """The school carrying the candidature and every associated school: a CNR network or bassin
    de formation lies inside one académie, whose groupe d'appui follows the project (seed 003)."""
    if content.organiser is not None and content.organiser.academie != campaign_academie:
        raise DomainError("organiser_must_belong_to_the_campaign_academie",
                          f"the campaign is for académie {campaign_academie}", "organiser.academie")
    if content.school is not None:
        school_must_belong_to_the_campaign_academie(content.school, campaign_academie)
    for index, school in enumerate(content.associated_schools):
        school_must_belong_to_the_campaign_academie(school, campaign_academie, f"associated_schools.{index}")


def an_applicant_school_or_organiser(dispositif: Dispositif, content: "CandidatureContent") -> None:
    """A school applies with its classes; only a plan mercredi campaign also takes an ACM
    organiser (seed 001: the commune, association or centre de loisirs that runs the accueil
    builds the projet éducatif), with its places and groups and, if it has one, a partner school."""
    if content.organiser is not None:
        if dispositif is not Dispositif.mercredi:
            raise DomainError("only_a_plan_mercredi_takes_an_acm_organiser",
                              "only a plan mercredi campaign takes an ACM organiser's candidature", "organiser")
        if content.classes:
            raise DomainError("an_acm_organiser_applies_with_groups_not_classes",
                              "an ACM organiser lists its groups of children, not classes", "classes")
        return
    if content.school is None:
        raise DomainError("a_candidature_names_its_school", "name the applying school", "school")
    if not content.classes:
        raise DomainError("a_school_applies_with_its_classes", "list at least one class", "classes")


def acm_places_and_groups_are_consistent(content: "CandidatureContent") -> None:
    """Each group and each school place named once; a school place matches its UAI's académie,
    which is the organiser's (the académie of the campaign instructs)."""
    organiser = content.organiser
    if organiser is None:
        return
    seen_groups: set[str] = set()
    for index, group in enumerate(organiser.groups):
        if group.group_id in seen_groups:
            raise DomainError("acm_group_ids_must_be_unique", f"group {group.group_id} is listed twice",
                              f"organiser.groups.{index}.group_id")
        seen_groups.add(group.group_id)
    seen_uais: set[str] = set()
    for index, place in enumerate(organiser.places):
        if place.uai is None:
            continue
        if place.uai in seen_uais:
            raise DomainError("acm_places_are_named_once", f"school {place.uai} is named twice",
                              f"organiser.places.{index}.uai")
        seen_uais.add(place.uai)
        if academie_of_uai(place.uai) != organiser.academie:
            raise DomainError("acm_school_places_are_in_the_organiser_academie",
                              f"school {place.uai} is not in académie {organiser.academie}",
                              f"organiser.places.{index}.uai")


def several_schools_only_for_a_cnr_project(dispositif: Dispositif, content: "CandidatureContent") -> None:
    """Seed 003: « Volontariat des écoles ou groupes d'écoles » — the concertation « peut
    néanmoins être étendue au réseau ou au bassin de formation ». Other dispositifs twin one
    school with its partner. Each school is named once and matches its UAI."""
    if not content.associated_schools:
        return
    if dispositif is not Dispositif.concertation:
        raise DomainError("several_schools_only_for_a_cnr_project",
                          "only a CNR project is carried by several schools", "associated_schools")
    seen = {school.uai for school in content.schools[:1]}
    for index, school in enumerate(content.associated_schools):
        field = f"associated_schools.{index}"
        if school.uai in seen:
            raise DomainError("each_school_of_the_project_is_named_once",
                              f"school {school.uai} is named twice", f"{field}.uai")
        seen.add(school.uai)
        school_must_match_its_uai(school, field)


def class_ids_must_be_unique(classes: Sequence[ClassEntry], field: str = "classes") -> None:
    seen: set[str] = set()
    for index, entry in enumerate(classes):
        if entry.class_id in seen:
            raise DomainError("class_ids_must_be_unique", f"class {entry.class_id} is listed twice",
                              f"{field}.{index}.class_id")
        seen.add(entry.class_id)


# -- dispositifs ----------------------------------------------------------------------------


def jes_only_from_5e_to_bts(dispositif: Dispositif, classes: Sequence[ClassEntry], field: str = "classes") -> None:
    """Jumelages d'échanges solidaires are for collèges and lycées, from 5e to BTS."""
    if dispositif is not Dispositif.entreprise:
        return
    for index, entry in enumerate(classes):
        if not entry.level.in_jes:
            raise DomainError("jes_only_from_5e_to_bts",
                              f"class {entry.label} ({entry.level.value}) is below 5e", f"{field}.{index}.level")


def jes_needs_a_partner_company(dispositif: Dispositif, content: CandidatureContent) -> None:
    if dispositif is Dispositif.entreprise and content.partner_company is None and content.offer_id is None:
        raise DomainError("jes_needs_a_partner_company",
                          "a JES candidature names its partner company (or a company's offer)", "partner_company")
    if dispositif is not Dispositif.entreprise and content.partner_company is not None:
        raise DomainError("partner_company_only_for_jes", "only a JES candidature names a partner company",
                          "partner_company")


def culture_needs_a_tier(dispositif: Dispositif, tier: CultureTier | None) -> None:
    """Culture candidatures choose « approfondir » or « jumelage »; other dispositifs have no tier."""
    if dispositif is Dispositif.culture and tier is None:
        raise DomainError("culture_needs_a_tier", "choose the tier: approfondir or jumelage", "tier")
    if dispositif is not Dispositif.culture and tier is not None:
        raise DomainError("tier_only_for_culture", "only culture candidatures have a tier", "tier")


def cnr_carries_its_steps(dispositif: Dispositif, content: CandidatureContent) -> None:
    """A « Notre école, faisons-la ensemble » candidature says which of the three steps the team
    has reached: it may join with its initial concertation only (seed 003: « trois étapes
    facultatives, distinctes l'une de l'autre »; teams « pourront à tout moment choisir de
    s'inscrire dans la démarche »), with its projet, or with the projet and a funding request."""
    if dispositif is not Dispositif.concertation:
        if content.concertation is not None:
            raise DomainError("concertation_only_for_cnr", "only a CNR candidature carries a concertation",
                              "concertation")
        return
    steps = content.concertation
    if steps is None or (steps.concertation_summary is None and steps.pedagogical_project is None
                         and steps.funding is None):
        raise DomainError("cnr_joins_with_at_least_one_step",
                          "a CNR candidature states at least one step: the initial concertation held, "
                          "the projet pedagogique, or the projet and its funding request", "concertation")
    cnr_funding_is_for_a_pedagogical_project(steps)


def cnr_funding_is_for_a_pedagogical_project(steps: Concertation) -> None:
    """« Les projets pédagogiques pourront être financés »: funding is asked for a projet (the same
    rule as programmes' ``funding_requires_the_pedagogical_project``), and its budget lines, when
    given, add up to the amount."""
    funding = steps.funding
    if funding is None:
        return
    if steps.pedagogical_project is None:
        raise DomainError("cnr_funding_is_for_a_pedagogical_project",
                          "funding is asked for a projet pedagogique: write the projet first",
                          "concertation.pedagogical_project")
    if funding.budget_lines and sum(line.amount_eur for line in funding.budget_lines) != funding.amount_eur:
        raise DomainError("cnr_budget_lines_add_up_to_the_amount",
                          "the budget lines do not add up to the amount requested",
                          "concertation.funding.budget_lines")


def candidature_names_an_offer_or_partner(dispositif: Dispositif, content: CandidatureContent) -> None:
    """Every dispositif but the CNR (a local concertation) is a twinning with a named partner."""
    if dispositif is Dispositif.concertation:
        return
    if content.offer_id is None and content.partner_wished is None and content.partner_company is None:
        raise DomainError("candidature_names_an_offer_or_partner",
                          "name the offer or the partner wished", "offer_id")


def classes_must_fit_the_offer_levels(classes: Sequence[ClassEntry], offer_levels: Sequence,
                                      field: str = "classes") -> None:
    """The offer takes every class (an ACM group: the level of its youngest children)."""
    allowed = set(offer_levels)
    for index, entry in enumerate(classes):
        if entry.level not in allowed:
            raise DomainError("classes_must_fit_the_offer_levels",
                              f"the offer does not take {entry.level.value} classes", f"{field}.{index}.level")


def content_must_follow_the_dispositif(dispositif: Dispositif, content: CandidatureContent) -> None:
    """Every content rule, in the order a school would want to hear about them."""
    an_applicant_school_or_organiser(dispositif, content)
    if content.school is not None:
        school_must_match_its_uai(content.school)
    acm_places_and_groups_are_consistent(content)
    several_schools_only_for_a_cnr_project(dispositif, content)
    class_ids_must_be_unique(content.classes)
    jes_only_from_5e_to_bts(dispositif, content.classes)
    jes_needs_a_partner_company(dispositif, content)
    culture_needs_a_tier(dispositif, content.tier)
    cnr_carries_its_steps(dispositif, content)
    candidature_names_an_offer_or_partner(dispositif, content)
