"""Referents on both sides and the year's convention (the charter for JES)."""

from __future__ import annotations


from jumelage_contracts.programmes import (
    CharterEngagement,
    ConventionKind,
    ConventionSigned,
    ReferentDesignated,
    ReferentRole,
    Side,
)
from jumelage_contracts.reference import Dispositif

from .commands import DesignateReferent, SignConvention
from .errors import Conflict, RuleViolated
from .state import Identity, Referent, Signature, with_, Year

ROLES_OF_SIDE = {
    Side.school: {ReferentRole.teacher, ReferentRole.coordinator, ReferentRole.head},
    Side.partner: {ReferentRole.collaborator, ReferentRole.coordinator},
}

# JES charter: article 1 binds the establishment, article 2 the company, article 3 the Éducation
# nationale, which the establishment signs for.
CHARTER_ENGAGEMENTS_OF_SIDE = {
    Side.school: {CharterEngagement.establishment, CharterEngagement.education_nationale},
    Side.partner: {CharterEngagement.company},
}


def convention_kind(dispositif: Dispositif) -> ConventionKind:
    if dispositif is Dispositif.entreprise:
        return ConventionKind.charter
    if dispositif is Dispositif.mercredi:
        return ConventionKind.protocole
    return ConventionKind.convention


# -- rules -------------------------------------------------------------------------------------


def referent_role_fits_the_side(cmd: DesignateReferent) -> None:
    if cmd.role not in ROLES_OF_SIDE[cmd.side]:
        raise RuleViolated(f"a {cmd.side.value} referent cannot be a {cmd.role.value}",
                           rule="referent_role_fits_the_side", field="role")


def a_replaced_referent_is_active_on_the_same_side(year: Year, cmd: DesignateReferent) -> None:
    if cmd.replaces is None:
        return
    replaced = year.referents.get(cmd.replaces)
    if replaced is None or replaced.side != cmd.side:
        raise RuleViolated(f"no active {cmd.side.value} referent {cmd.replaces!r} to replace",
                           rule="a_replaced_referent_is_active_on_the_same_side", field="replaces")


def a_referent_id_names_one_person(year: Year, cmd: DesignateReferent) -> bool:
    """True when the same designation was already recorded (nothing to do)."""
    known = year.referents.get(cmd.referent_id)
    if known is None:
        return False
    if (known.side, known.role, known.name, known.email) == (cmd.side, cmd.role, cmd.name, cmd.email):
        return True
    raise Conflict(f"referent {cmd.referent_id!r} is already someone else",
                   rule="a_referent_id_names_one_person", field="referent_id")


def jes_charter_engagements_are_accepted(identity: Identity, cmd: SignConvention) -> None:
    if identity.dispositif is not Dispositif.entreprise:
        return
    missing = CHARTER_ENGAGEMENTS_OF_SIDE[cmd.side] - set(cmd.engagements_accepted)
    if missing:
        names = ", ".join(sorted(m.value for m in missing))
        raise RuleViolated(f"the {cmd.side.value} must accept the charter's engagements: {names}",
                           rule="jes_charter_engagements_are_accepted", field="engagements_accepted")


# -- decisions ---------------------------------------------------------------------------------


def designate_referent(cmd: DesignateReferent, identity: Identity, year: Year) -> list:
    referent_role_fits_the_side(cmd)
    if a_referent_id_names_one_person(year, cmd):
        return []
    a_replaced_referent_is_active_on_the_same_side(year, cmd)
    return [ReferentDesignated(
        **year.stamp(identity.partnership_id), referent_id=cmd.referent_id, side=cmd.side, role=cmd.role,
        name=cmd.name, email=cmd.email, phone=cmd.phone, replaces=cmd.replaces)]


def sign_convention(cmd: SignConvention, identity: Identity, year: Year) -> list:
    if cmd.side in year.signatures:
        return []
    jes_charter_engagements_are_accepted(identity, cmd)
    other = Side.partner if cmd.side == Side.school else Side.school
    return [ConventionSigned(
        **year.stamp(identity.partnership_id), kind=convention_kind(identity.dispositif), side=cmd.side,
        signed_by=cmd.signed_by, signed_at=cmd.now, fully_signed=other in year.signatures,
        engagements_accepted=sorted(set(cmd.engagements_accepted), key=lambda e: e.value))]


# -- evolution ---------------------------------------------------------------------------------


def evolve_referent_designated(year: Year, event: ReferentDesignated) -> Year:
    referents = {k: v for k, v in year.referents.items() if k != event.replaces}
    referents[event.referent_id] = Referent(referent_id=event.referent_id, side=event.side, role=event.role,
                                            name=event.name, email=event.email)
    return with_(year, referents=referents)


def evolve_convention_signed(year: Year, event: ConventionSigned) -> Year:
    signature = Signature(side=event.side, signed_by=event.signed_by, signed_at=event.signed_at,
                          engagements=tuple(e.value for e in event.engagements_accepted))
    return with_(year, signatures={**year.signatures, event.side: signature})
