"""Test data for the candidatures deciders: a Paris culture campaign and realistic content per
dispositif. Plain functions so any candidatures test module can import them."""

from __future__ import annotations

from datetime import date, datetime, timezone

from jumelage_contracts.candidatures import (
    AcmPlace,
    BudgetLine,
    CampaignCalendar,
    CampaignOpened,
    ChildGroup,
    ClassEntry,
    Concertation,
    DateWindow,
    FundingRequest,
    OfferPublished,
    Organiser,
    Partner,
    PartnerCompany,
    PartnerRef,
    Resource,
    SchoolRef,
    Wishes,
)
from jumelage_contracts.reference import CultureTier, Dispositif, Level

from candidatures.domain import campaign as campaign_decider
from candidatures.domain import offer as offer_decider
from candidatures.domain.rules import CandidatureContent

UTC = timezone.utc
BEFORE_DEADLINE = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
AFTER_DEADLINE = datetime(2025, 6, 15, 9, 0, tzinfo=UTC)
IN_RENEWAL_WINDOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def calendar(year: int = 2025) -> CampaignCalendar:
    return CampaignCalendar(
        submission_deadline=datetime(year, 5, 31, 21, 59, tzinfo=UTC),
        attribution_date=date(year, 7, 4),
        work_meeting_window=DateWindow(start=date(year, 9, 15), end=date(year, 10, 17)),
        bilan_window=DateWindow(start=date(year + 1, 5, 11), end=date(year + 1, 6, 19)),
        renewal_deadline=datetime(year + 1, 6, 26, 21, 59, tzinfo=UTC),
    )


def campaign_opened(dispositif: Dispositif = Dispositif.culture, academie: str = "paris",
                    campaign_id: str = "camp-1") -> CampaignOpened:
    return CampaignOpened(campaign_id=campaign_id, academie=academie, dispositif=dispositif,
                          school_year="2025-2026", title=f"Jumelages {dispositif.value} 2025-2026",
                          calendar=calendar(), opened_by="daac-paris")


def open_campaign(dispositif: Dispositif = Dispositif.culture, academie: str = "paris") -> campaign_decider.Open:
    return campaign_decider.Open(campaign_opened(dispositif, academie))


PARIS_SCHOOL = SchoolRef(uai="0750655E", name="Ecole elementaire Belleville", academie="paris", departement="75",
                         education_prioritaire="REP+", ruralite="grands_centres_urbains")
PARIS_COLLEGE = SchoolRef(uai="0750100B", name="College Jean Jaures", academie="paris", departement="75",
                          education_prioritaire="REP")
CRETEIL_SCHOOL = SchoolRef(uai="0930001W", name="Ecole Jules Ferry", academie="creteil", departement="93")
PARIS_SCHOOL_2 = SchoolRef(uai="0750712S", name="Ecole maternelle Ramponeau", academie="paris", departement="75",
                           education_prioritaire="REP+")


def cls(class_id: str, level: str, pupils: int = 24) -> ClassEntry:
    return ClassEntry(class_id=class_id, label=f"{level} {class_id}", level=Level(level), pupils=pupils,
                      objective=f"Objectif de la classe {class_id}")


def partner(kind: str = "cultural_structure", partner_id: str = "musee-carnavalet") -> Partner:
    return Partner(partner_id=partner_id, kind=kind, name="Musee Carnavalet", address="23 rue de Sevigne",
                   commune="Paris", postcode="75003")


def offer_content(capacity: int = 4, kind: str = "cultural_structure",
                  levels=("CE2", "CM1", "CM2", "5e", "4e", "3e")) -> offer_decider.OfferContent:
    return offer_decider.OfferContent(
        partner=partner(kind), title="Le musee comme salle de classe",
        resources=(Resource(kind="visit", description="Visites commentees"),),
        eac_domains=(13,), levels=tuple(Level(lv) for lv in levels), audiences=("pupils",),
        time_slots=("scolaire",), capacity_classes=capacity,
    )


def offer_published(capacity: int = 4, offer_id: str = "offer-1", campaign_id: str = "camp-1",
                    dispositif: Dispositif = Dispositif.culture, kind: str = "cultural_structure") -> OfferPublished:
    c = offer_content(capacity, kind)
    return OfferPublished(offer_id=offer_id, campaign_id=campaign_id, academie="paris", dispositif=dispositif,
                          partner=c.partner, title=c.title, resources=list(c.resources),
                          eac_domains=list(c.eac_domains), levels=list(c.levels), audiences=list(c.audiences),
                          time_slots=list(c.time_slots), capacity_classes=capacity)


def published_offer(capacity: int = 4, **kw) -> offer_decider.Published:
    return offer_decider.Published(offer_published(capacity, **kw))


def culture_content(classes=None, offer_id: str | None = "offer-1", tier=CultureTier.approfondir,
                    school: SchoolRef = PARIS_SCHOOL) -> CandidatureContent:
    return CandidatureContent(
        school=school, classes=tuple(classes or (cls("cm1-a", "CM1"), cls("cm2-b", "CM2"))),
        school_objective="Ouvrir l'ecole sur le patrimoine du quartier", offer_id=offer_id,
        wishes=Wishes(periscolaire=True, families=True), tier=tier,
    )


def jes_content(classes=None, company: bool = True) -> CandidatureContent:
    return CandidatureContent(
        school=PARIS_COLLEGE, classes=tuple(classes or (cls("3e-a", "3e"),)),
        school_objective="Decouvrir les metiers du territoire",
        partner_company=PartnerCompany(name="Boulangerie industrielle du 20e", siret="12345678900011")
        if company else None,
    )


CONCERTATION_HELD = "Trois reunions avec familles, elus et associations"
PROJET = "Vegetaliser la cour et en faire un lieu d'apprentissage"


def cnr_funding(amount: int = 4500) -> FundingRequest:
    return FundingRequest(amount_eur=amount, budget_lines=[
        BudgetLine(label="Plantations", amount_eur=3000), BudgetLine(label="Mobilier", amount_eur=1500)])


def cnr_content(concertation: bool = True, amount: int = 4500, *, summary: str | None = CONCERTATION_HELD,
                projet: str | None = PROJET, funding: bool = True, schools=()) -> CandidatureContent:
    """A CNR candidature; by default with its three steps (concertation held, projet, funding)."""
    return CandidatureContent(
        school=PARIS_SCHOOL, classes=(cls("ce2-a", "CE2"),),
        school_objective="Ameliorer le bien-etre des eleves dans la cour",
        concertation=Concertation(
            concertation_summary=summary, pedagogical_project=projet,
            funding=cnr_funding(amount) if funding else None,
        ) if concertation else None,
        associated_schools=tuple(schools),
    )


def cnr_concertation_only(schools=()) -> CandidatureContent:
    """A team joining with its initial concertation only: no projet, no funding yet."""
    return cnr_content(projet=None, funding=False, schools=schools)


def mercredi_content() -> CandidatureContent:
    return CandidatureContent(
        school=PARIS_SCHOOL, classes=(cls("acm-1", "CM1"),), school_objective="Activites du mercredi",
        partner_wished=PartnerRef(partner_id="mediatheque-20", kind="cultural_structure", name="Mediatheque"),
    )


class Spec:
    """given([events]).when(command).then([events]) / .raises(rule) over one decider."""

    def __init__(self, decider) -> None:
        self.decider = decider
        self.state = decider.fold([])

    def given(self, *events) -> "Spec":
        self.state = self.decider.fold(events)
        return self

    def when(self, command) -> "Spec":
        self.command = command
        return self

    def produce(self):
        return self.decider.decide(self.command, self.state)

    def then(self, *expected) -> list:
        produced = self.produce()
        assert produced == list(expected)
        return produced

    def raises(self, rule: str):
        from candidatures.domain.errors import DomainError
        import pytest

        with pytest.raises(DomainError) as info:
            self.produce()
        assert info.value.rule == rule, f"expected rule {rule}, got {info.value.rule}: {info.value}"
        return info.value


def given(decider, *events) -> Spec:
    return Spec(decider).given(*events)


ACM_GROUPS = (ChildGroup(group_id="maternelle", age_min=3, age_max=5, children=16),
              ChildGroup(group_id="petits", age_min=6, age_max=8, children=24),
              ChildGroup(group_id="grands", age_min=9, age_max=11, children=20))
SCHOOL_PLACE = AcmPlace(kind="school", uai="0750712S", name="Ecole maternelle Ramponeau", commune="Paris")
DEDICATED_PLACE = AcmPlace(kind="dedicated", name="Centre de loisirs des Envierges",
                           address="12 rue des Envierges", commune="Paris", postcode="75020")


def acm_organiser(places=(DEDICATED_PLACE,), groups=ACM_GROUPS, academie: str = "paris",
                  partner_id: str = "acm-belleville") -> Organiser:
    return Organiser(partner_id=partner_id, kind="association", name="Association Loisirs Belleville",
                     siret="12345678900029", academie=academie, departement="75", commune="Paris",
                     postcode="75020", places=list(places), groups=list(groups))


def acm_content(places=(DEDICATED_PLACE,), school: SchoolRef | None = PARIS_SCHOOL, groups=ACM_GROUPS,
                classes=(), offer_id: str | None = None, **kw) -> CandidatureContent:
    """An ACM organiser's candidature to a plan mercredi campaign (seed 001): no classes, its groups;
    by default a dedicated place and a partner school."""
    return CandidatureContent(
        school=school, classes=tuple(classes), school_objective="Projet educatif : decouvrir le livre et l'image",
        offer_id=offer_id, organiser=acm_organiser(places, groups, **kw),
        partner_wished=None if offer_id else PartnerRef(partner_id="mediatheque-20", kind="cultural_structure",
                                                        name="Mediatheque"),
    )
