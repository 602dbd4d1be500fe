"""Who may see and change a partnership.

Scopes: a school acts for its UAI, a partner for its partner id, an académie for its académie;
national and admin are global. Beyond scope, a few commands belong to one side: each side
designates its own referents and signs for itself; the académie grants funding and ends a
partnership; no one but the side itself signs its part of a convention or records its part of the
bilan (national and admin included; the académie may record the school's part for it).
"""

from __future__ import annotations

from eventkit.auth import Principal
from jumelage_contracts import Role
from jumelage_contracts.programmes import Side

from programmes.domain import commands as c
from programmes.domain.state import State, Unopened

# The joint bilan (both parts at once) and closing it belong to the académie: each side records its own part.
ACADEMIE_ONLY = (c.GrantFunding, c.EndPartnership, c.DeclineRenewal, c.OpenYear, c.RecordBilan, c.CloseBilan)
SIDE_OF_ROLE = {Role.school: Side.school, Role.partner: Side.partner}


def side_of(principal: Principal, state: State) -> Side | None:
    """The side a school or partner token acts for: the ACM organiser of a plan mercredi
    partnership (a partner structure of kind ``acm``, seed 001) holds the school side."""
    if principal.role is Role.partner and not isinstance(state, Unopened) \
            and principal.scope is not None and principal.scope == state.identity.organiser_id:
        return Side.school
    return SIDE_OF_ROLE.get(principal.role)


class AccessDenied(Exception):
    """The caller's role or scope does not cover this partnership or command (403)."""

    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.rule = "outside_your_scope"


def in_scope(principal: Principal, state: State) -> bool:
    if principal.is_global():
        return True
    if isinstance(state, Unopened):
        return False
    identity = state.identity
    if principal.role is Role.school:
        return principal.scope in identity.uais  # a CNR project's associated schools too
    if principal.role is Role.partner and principal.scope == identity.organiser_id:
        return True
    scope_of = {Role.partner: identity.partner_id, Role.academie: identity.academie}
    return principal.scope == scope_of.get(principal.role)


def may_read(principal: Principal, state: State) -> None:
    if not in_scope(principal, state):
        raise AccessDenied("this partnership is outside your scope")


def a_side_signs_for_itself_only(principal: Principal, state: State, command: c.SignConvention) -> None:
    """The school signs for the school, the partner for the partner; no one else signs, not even
    national or admin (a signature is the side's own commitment)."""
    if side_of(principal, state) != command.side:
        raise AccessDenied("the convention is signed by the school and the partner, each for its own side")


def may_run(principal: Principal, state: State, command: c.Command) -> None:
    if isinstance(state, Unopened) and not principal.is_global():
        # Do not reveal whether a partnership exists to someone who could not see it.
        raise AccessDenied("this partnership is outside your scope")
    may_read(principal, state)
    if isinstance(command, c.SignConvention):
        a_side_signs_for_itself_only(principal, state, command)
    if isinstance(command, c.RecordBilanSide):
        a_side_records_its_own_part(principal, state, command.side)
    if principal.is_global():
        return
    if isinstance(command, ACADEMIE_ONLY) and principal.role is not Role.academie:
        raise AccessDenied(f"only the academie may {type(command).__name__}")
    side = getattr(command, "side", None)
    if isinstance(command, (c.DesignateReferent, c.SignConvention)):
        if principal.role in SIDE_OF_ROLE and side_of(principal, state) != side:
            raise AccessDenied(f"a {principal.role.value} acts for its own side only")


def a_side_records_its_own_part(principal: Principal, state: State, side: Side) -> None:
    """The school's part by the school (or its académie, for it); the partner's by the partner.
    National and admin record neither: a part is the side's own word (its wish to continue is
    what the renewal reads), like its signature."""
    allowed = side_of(principal, state) or (Side.school if principal.role is Role.academie else None)
    if allowed != side:
        raise AccessDenied(f"a {principal.role.value} records its own part of the bilan only")
