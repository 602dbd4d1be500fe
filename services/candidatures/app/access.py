"""Who may do what: a school acts for its own UAI, a partner for its own offers, an académie
instructs its own campaigns; national and admin act everywhere. Each rule is a named function
raising :class:`Forbidden` (HTTP 403)."""

from __future__ import annotations

from eventkit.auth import Principal
from jumelage_contracts import Role

from candidatures.domain.errors import DomainError


class Forbidden(DomainError):
    status = 403

    def __init__(self, rule: str, message: str = "outside your scope") -> None:
        super().__init__(rule, message)


def academie_acts_for_its_own_campaigns(principal: Principal, academie: str) -> None:
    if not principal.can_act_for(Role.academie, str(academie)):
        raise Forbidden("academie_acts_for_its_own_campaigns", f"only académie {academie} (or national) may do this")


def school_acts_for_its_own_uai(principal: Principal, uai: str) -> None:
    if not principal.can_act_for(Role.school, uai):
        raise Forbidden("school_acts_for_its_own_uai", f"only school {uai} may do this")


def applicant_acts_for_its_own_candidature(principal: Principal, content) -> None:
    """A school for its own UAI; an ACM organiser (seed 001) is a partner structure of kind
    ``acm``: it acts with a partner token scoped to its own partner id, the one its candidature
    names (a school partnering it reads the candidature, but does not write it)."""
    if content.organiser is None:
        school_acts_for_its_own_uai(principal, content.school.uai)
        return
    if not principal.can_act_for(Role.partner, content.organiser.partner_id):
        raise Forbidden("acm_organiser_acts_for_its_own_candidature",
                        f"only the ACM organiser {content.organiser.partner_id} may do this")


def school_side_asks_the_renewal(principal: Principal, origin) -> None:
    """The school of the partnership; for an ACM organiser's partnership (``organiser`` on its
    attribution), the organiser too, with its partner token — it built the projet éducatif."""
    organiser = getattr(origin, "organiser", None)
    if organiser is not None and principal.can_act_for(Role.partner, organiser.partner_id):
        return
    if origin.school is None:
        raise Forbidden("acm_organiser_acts_for_its_own_candidature",
                        f"only the ACM organiser {organiser.partner_id} may do this")
    school_acts_for_its_own_uai(principal, origin.school.uai)


def partner_acts_for_its_own_offers(principal: Principal, partner_id: str, academie: str) -> None:
    """The partner itself, or the académie of the campaign entering the offer on its behalf."""
    if not (principal.can_act_for(Role.partner, partner_id) or principal.can_act_for(Role.academie, str(academie))):
        raise Forbidden("partner_acts_for_its_own_offers", f"only partner {partner_id} may do this")


def may_read_candidature(principal: Principal, row: dict) -> None:
    """The académie, the school carrying it, the schools associated to a CNR project with it (they
    follow the project; only the school carrying it writes), the partner it is addressed to."""
    data = row.get("data") or {}
    associated = [school["uai"] for school in data.get("associated_schools") or ()]
    organiser = (data.get("organiser") or {}).get("partner_id")
    allowed = ((organiser is not None and principal.can_act_for(Role.partner, organiser)) or
               principal.can_act_for(Role.academie, row["academie"]) or (row["uai"] is not None and principal.can_act_for(Role.school, row["uai"]))
               or any(principal.can_act_for(Role.school, uai) for uai in associated)
               or (row.get("partner_id") is not None and principal.can_act_for(Role.partner, row["partner_id"])))
    if not allowed:
        raise Forbidden("may_read_own_candidatures_only")


def scope_filters(principal: Principal, campaign_academie: str) -> dict[str, str]:
    """The filters a listing of a campaign's candidatures is narrowed to for this caller."""
    if principal.can_act_for(Role.academie, campaign_academie):
        return {}
    if principal.role == Role.school:
        return {"uai": principal.scope}
    if principal.role == Role.partner:
        return {"addressed_to_or_organised_by": principal.scope}
    raise Forbidden("academie_acts_for_its_own_campaigns", "this campaign belongs to another académie")
