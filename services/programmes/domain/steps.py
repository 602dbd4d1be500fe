"""Plan mercredi's five steps and the CNR project's steps, and the CNR funding
(requested → granted → spent)."""

from __future__ import annotations


from jumelage_contracts.programmes import (
    CONCERTATION_STEPS,
    MERCREDI_STEPS,
    FundingGranted,
    FundingRequested,
    FundingSpent,
    StepCompleted,
    StepTrack,
)
from jumelage_contracts.reference import Dispositif

from .commands import CompleteStep, GrantFunding, RequestFunding, SpendFunding
from .errors import Conflict, NotFound, RuleViolated
from .state import Funding, Identity, with_, Year

STEPS = {StepTrack.mercredi: MERCREDI_STEPS, StepTrack.concertation: CONCERTATION_STEPS}
TRACK_OF = {Dispositif.mercredi: StepTrack.mercredi, Dispositif.concertation: StepTrack.concertation}

# -- rules -------------------------------------------------------------------------------------


def steps_belong_to_the_dispositif(identity: Identity, cmd: CompleteStep) -> None:
    if TRACK_OF.get(identity.dispositif) != cmd.track:
        raise RuleViolated(f"{cmd.track.value} steps do not apply to a {identity.dispositif.value} partnership",
                           rule="steps_belong_to_the_dispositif", field="track")
    if cmd.step not in STEPS[cmd.track]:
        raise RuleViolated(f"unknown {cmd.track.value} step {cmd.step!r}", rule="steps_belong_to_the_dispositif",
                           field="step")


def steps_follow_their_order(year: Year, cmd: CompleteStep) -> None:
    """Plan mercredi: « Tout développement de partenariats doit passer par cinq étapes » (seed
    001), one after the other. The CNR's steps are not ordered: see ``cnr_steps_are_optional_and_distinct``."""
    if cnr_steps_are_optional_and_distinct(cmd):
        return
    steps = STEPS[cmd.track]
    index = steps.index(cmd.step)
    if index > 0 and steps[index - 1] not in year.steps_done:
        raise RuleViolated(f"step {cmd.step!r} comes after {steps[index - 1]!r}", rule="steps_follow_their_order",
                           field="step")


def cnr_steps_are_optional_and_distinct(cmd: CompleteStep) -> bool:
    """Seed 003: « Cette démarche est composée de trois étapes facultatives, distinctes l'une de
    l'autre ». A school may write its projet pédagogique without an initial concertation (teams
    « pourront à tout moment choisir de s'inscrire dans la démarche »), or hold a concertation
    after it; what does follow is the money: « les projets pédagogiques pourront être financés »,
    so a funding request needs the projet (``funding_requires_the_pedagogical_project``) and the
    financement step needs a request (``the_financement_step_needs_a_funding_request``)."""
    return cmd.track is StepTrack.concertation


def the_mercredi_bilan_decides_reconduction(cmd: CompleteStep) -> None:
    if cmd.track == StepTrack.mercredi and cmd.step == "bilan" and cmd.reconduction is None:
        raise RuleViolated("the bilan step says whether the partnership is renewed",
                           rule="the_mercredi_bilan_decides_reconduction", field="reconduction")


def the_mercredi_bilan_step_agrees_with_the_recorded_bilan(year: Year, cmd: CompleteStep) -> None:
    """The step decides the reconduction, but a bilan already recorded with the wish to continue
    may have been acted on (candidatures noted it; a renewal may be under way): refusing the
    reconduction afterwards is refused, the step has to come before such a bilan."""
    if cmd.reconduction is False and year.bilan is not None and year.bilan.wish_to_continue:
        raise RuleViolated("the bilan already recorded wishes to continue; the bilan step decides before it",
                           rule="the_mercredi_bilan_step_agrees_with_the_recorded_bilan", field="reconduction")


def the_financement_step_needs_a_funding_request(year: Year, cmd: CompleteStep) -> None:
    if cmd.step == "financement" and not year.funding:
        raise RuleViolated("the financement step follows a funding request",
                           rule="the_financement_step_needs_a_funding_request", field="step")


def funding_is_for_cnr_projects_with_a_pedagogical_project(identity: Identity, year: Year) -> None:
    if identity.dispositif is not Dispositif.concertation:
        raise RuleViolated("funding is requested by CNR projects", rule="funding_is_for_cnr_projects",
                           field="funding_id")
    if "projet_pedagogique" not in year.steps_done:
        raise RuleViolated("funding is requested for a projet pedagogique",
                           rule="funding_requires_the_pedagogical_project", field="funding_id")


def funding_must_exist(year: Year, funding_id: str) -> Funding:
    try:
        return year.funding[funding_id]
    except KeyError:
        raise NotFound(f"no funding {funding_id!r}", rule="funding_must_exist", field="funding_id") from None


def a_grant_does_not_exceed_the_request(funding: Funding, amount: int) -> None:
    if amount > funding.requested_eur:
        raise RuleViolated(f"{amount} EUR granted for {funding.requested_eur} EUR requested",
                           rule="a_grant_does_not_exceed_the_request", field="amount_eur")


def an_expense_id_names_one_expense(funding: Funding, cmd: SpendFunding) -> bool:
    """True when this very expense is already recorded (a retry: nothing to do); the same id for
    another amount is a conflict."""
    known = funding.expenses.get(cmd.expense_id)
    if known is None:
        return False
    if known == cmd.amount_eur:
        return True
    raise Conflict(f"expense {cmd.expense_id!r} was recorded for {known} EUR", rule="an_expense_id_names_one_expense",
                   field="expense_id")


def spending_stays_within_the_grant(funding: Funding, amount: int) -> None:
    if funding.granted_eur is None:
        raise RuleViolated("nothing is spent before the funding is granted", rule="spending_follows_the_grant",
                           field="funding_id")
    if funding.spent_eur + amount > funding.granted_eur:
        raise RuleViolated(f"only {funding.granted_eur - funding.spent_eur} EUR left on the grant",
                           rule="spending_stays_within_the_grant", field="amount_eur")


# -- decisions ---------------------------------------------------------------------------------


def complete_step(cmd: CompleteStep, identity: Identity, year: Year) -> list:
    steps_belong_to_the_dispositif(identity, cmd)
    if cmd.step in year.steps_done:
        return []
    steps_follow_their_order(year, cmd)
    the_mercredi_bilan_decides_reconduction(cmd)
    the_mercredi_bilan_step_agrees_with_the_recorded_bilan(year, cmd)
    the_financement_step_needs_a_funding_request(year, cmd)
    return [StepCompleted(
        **year.stamp(identity.partnership_id), track=cmd.track, step=cmd.step,
        step_number=STEPS[cmd.track].index(cmd.step) + 1, completed_at=cmd.now, summary=cmd.summary,
        reconduction=cmd.reconduction)]


def request_funding(cmd: RequestFunding, identity: Identity, year: Year) -> list:
    known = year.funding.get(cmd.funding_id)
    if known is not None:
        if known.requested_eur == cmd.amount_eur:
            return []
        raise Conflict(f"funding {cmd.funding_id!r} was requested for another amount",
                       rule="a_funding_id_names_one_request", field="funding_id")
    funding_is_for_cnr_projects_with_a_pedagogical_project(identity, year)
    return [FundingRequested(**year.stamp(identity.partnership_id), funding_id=cmd.funding_id,
                             amount_eur=cmd.amount_eur, budget=list(cmd.budget), requested_at=cmd.now)]


def grant_funding(cmd: GrantFunding, identity: Identity, year: Year) -> list:
    funding = funding_must_exist(year, cmd.funding_id)
    if funding.granted_eur is not None:
        if funding.granted_eur == cmd.amount_eur:
            return []
        raise Conflict("the funding was already granted with another amount", rule="a_funding_is_granted_once",
                       field="amount_eur")
    a_grant_does_not_exceed_the_request(funding, cmd.amount_eur)
    return [FundingGranted(**year.stamp(identity.partnership_id), funding_id=cmd.funding_id,
                           amount_eur=cmd.amount_eur, granted_by=cmd.granted_by, granted_at=cmd.now)]


def spend_funding(cmd: SpendFunding, identity: Identity, year: Year) -> list:
    funding = funding_must_exist(year, cmd.funding_id)
    if an_expense_id_names_one_expense(funding, cmd):
        return []
    spending_stays_within_the_grant(funding, cmd.amount_eur)
    return [FundingSpent(**year.stamp(identity.partnership_id), funding_id=cmd.funding_id,
                         expense_id=cmd.expense_id, amount_eur=cmd.amount_eur, label=cmd.label, spent_on=cmd.spent_on,
                         total_spent_eur=funding.spent_eur + cmd.amount_eur)]


# -- evolution ---------------------------------------------------------------------------------


def evolve_step(year: Year, event: StepCompleted) -> Year:
    reconduction = event.reconduction if event.reconduction is not None else year.reconduction
    return with_(year, steps_done=year.steps_done + (event.step,), reconduction=reconduction)


def evolve_funding(year: Year, event) -> Year:
    if isinstance(event, FundingRequested):
        funding = Funding(funding_id=event.funding_id, requested_eur=event.amount_eur)
    else:
        current = year.funding.get(event.funding_id)
        if current is None:
            return year
        if isinstance(event, FundingGranted):
            funding = with_(current, granted_eur=event.amount_eur)
        else:
            funding = with_(current, spent_eur=event.total_spent_eur,
                            expenses={**current.expenses, event.expense_id: event.amount_eur})
    return with_(year, funding={**year.funding, event.funding_id: funding})
