"""Reminder rules as data: one row per rule, per dispositif, overridable per académie.

A rule says: when a trigger of kind ``on`` arrives (a normalised fact translated from an event
of candidatures or programmes), plan a reminder ``offset`` days from the date named ``anchor``,
sent at ``at`` local time, to the ``audience`` roles; a later trigger whose kinds meet
``cancelled_by`` (about the same subject) cancels it. Rules are rows of :data:`DEFAULT_RULES`,
not ``if`` branches, so an académie can move a date or switch a rule off through an override
row (:class:`RuleOverride`) without a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from typing import Literal

Scope = Literal["campaign", "candidature", "partnership", "action", "meeting"]
Kind = Literal["reminder", "escalation", "decision"]

ALL_DISPOSITIFS = frozenset({"culture", "entreprise", "mercredi", "centre_social", "concertation"})
REFERENTS = ("school_referent", "partner_referent")
# A CNR campaign has no submission deadline: teams join at any time of the school year (seed 003).
WITH_A_SUBMISSION_DEADLINE = ALL_DISPOSITIFS - {"concertation"}
# a CNR project has no partner structure (seed 003), so no school / partner work meeting
WITH_A_PARTNER = ALL_DISPOSITIFS - {"concertation"}


@dataclass(frozen=True)
class Rule:
    """One reminder policy. ``name`` is the rule (it appears in events, Message-IDs and logs)."""

    name: str
    on: frozenset[str]            # trigger kinds that plan it
    anchor: str                   # the fact date it counts from (see Trigger.dates)
    offset_days: int              # signed: -7 is "J-7", +1 is "the day after"
    at: time | None               # local time of day it is sent; None: at the anchor's own instant
    audience: tuple[str, ...]     # recipient roles
    scope: Scope                  # what the reminder is about (its subject id)
    cancelled_by: frozenset[str]  # trigger kinds about the same subject that cancel it
    template: str                 # mail template name (adapters/templates/<template>.txt.j2)
    title: str                    # French subject line; str.format fields from the trigger
    dispositifs: frozenset[str] = ALL_DISPOSITIFS
    kind: Kind = "reminder"
    condition: str | None = None  # name of a predicate of app-free facts (see CONDITIONS)
    fixed_date: date | None = None  # set by an override: send on this day instead of anchor+offset
    enabled: bool = True
    # A trigger of kind ``catch_up_on`` arriving after the reminder's day (a late attribution:
    # nobody was told yet) still plans it, at the next ``at`` local time, up to the fact date
    # ``catch_up_until``. Otherwise a reminder whose day has passed is skipped.
    catch_up_on: frozenset[str] = frozenset()
    catch_up_until: str | None = None
    # Grace: a reminder whose time passed before it could go out (its event was in flight, the
    # service was down) is still sent, late, up to the fact date ``late_until`` (its end of day
    # for a calendar date) plus ``late_days``; after that it is recorded as missed, never
    # silently dropped. A J-1 for a visit already made is noise, a J-1 sent on the morning of
    # the visit is still useful.
    late_until: str = "starts_at"
    late_days: int = 0


def _rule(name: str, on: set[str] | str, anchor: str, offset_days: int, audience: tuple[str, ...],
          scope: Scope, cancelled_by: set[str], template: str, title: str, *, at: time | None = time(8, 0),
          dispositifs: frozenset[str] = ALL_DISPOSITIFS, kind: Kind = "reminder",
          condition: str | None = None, catch_up: tuple[set[str], str] | None = None,
          late_until: str = "starts_at", late_days: int = 0) -> Rule:
    return Rule(name=name, on=frozenset({on} if isinstance(on, str) else on), anchor=anchor,
                offset_days=offset_days, at=at, audience=audience, scope=scope,
                cancelled_by=frozenset(cancelled_by), template=template, title=title,
                dispositifs=dispositifs, kind=kind, condition=condition,
                catch_up_on=frozenset(catch_up[0]) if catch_up else frozenset(),
                catch_up_until=catch_up[1] if catch_up else None, late_until=late_until, late_days=late_days)


_ENDED = {"partnership_ended"}
_ATTRIBUTED = {"partnership_attributed", "renewal_granted"}


def _decision(name: str, on: set[str] | str, audience: tuple[str, ...], scope: Scope, template: str, title: str,
              *, cancelled_by: set[str] = frozenset(), condition: str | None = None,
              late_until: str = "decided_at", late_days: int = 0) -> Rule:
    """A decision told to the people it concerns: at the decision's own instant (``at=None``,
    anchor ``decided_at``), or as soon as someone can receive it (a partner whose referent is
    named later), within its grace."""
    return _rule(name, on, "decided_at", 0, audience, scope, set(cancelled_by), template, title, at=None,
                 kind="decision", condition=condition, late_until=late_until, late_days=late_days)

DEFAULT_RULES: tuple[Rule, ...] = (
    # Campaign: the call is re-announced to the eligible schools before its deadline, and each
    # school with a draft not yet submitted is reminded on its own mailbox.
    _rule("campaign_deadline_j_minus_7", "campaign_opened", "submission_deadline", -7, ("school",),
          "campaign", {"campaign_closed"}, "campaign_deadline",
          "Appel à candidatures « {title} » : plus que 7 jours pour candidater", late_until="submission_deadline",
          dispositifs=WITH_A_SUBMISSION_DEADLINE),
    _rule("campaign_deadline_j_minus_1", "campaign_opened", "submission_deadline", -1, ("school",),
          "campaign", {"campaign_closed"}, "campaign_deadline",
          "Appel à candidatures « {title} » : la date limite est demain", late_until="submission_deadline",
          dispositifs=WITH_A_SUBMISSION_DEADLINE),
    _rule("draft_deadline_j_minus_7", "candidature_drafted", "submission_deadline", -7, ("school",),
          "candidature", {"candidature_submitted", "candidature_withdrawn"},
          "draft_deadline", "Votre candidature en brouillon n'est pas encore déposée (J-7)",
          late_until="submission_deadline",
          dispositifs=WITH_A_SUBMISSION_DEADLINE),
    _rule("draft_deadline_j_minus_1", "candidature_drafted", "submission_deadline", -1, ("school",),
          "candidature", {"candidature_submitted", "candidature_withdrawn"},
          "draft_deadline", "Dernière chance : déposez votre candidature avant demain",
          late_until="submission_deadline",
          dispositifs=WITH_A_SUBMISSION_DEADLINE),
    # Partnership year: the work meeting, then the bilan, then the renewal.
    # Both come back when the year's only work meeting is cancelled ("work_meeting_missing").
    _rule("work_meeting_to_hold", _ATTRIBUTED | {"work_meeting_missing"}, "work_meeting_window_start", 0, REFERENTS,
          "partnership", {"work_meeting_scheduled"} | _ENDED, "work_meeting_to_hold",
          "Jumelage {school_name} / {partner_name} : fixez votre réunion de travail",
          catch_up=(_ATTRIBUTED, "work_meeting_window_end"), late_until="work_meeting_window_end",
          dispositifs=WITH_A_PARTNER),
    _rule("work_meeting_escalation", _ATTRIBUTED | {"work_meeting_missing"}, "work_meeting_window_end", 1, ("academie",),
          "partnership", {"work_meeting_scheduled"} | _ENDED, "work_meeting_escalation",
          "Sans réunion de travail : jumelage {school_name} / {partner_name}", kind="escalation",
          late_until="school_year_end", dispositifs=WITH_A_PARTNER),
    _rule("bilan_window_open", _ATTRIBUTED, "bilan_window_start", 0, REFERENTS,
          "partnership", {"bilan_recorded"} | _ENDED, "bilan_window_open",
          "Jumelage {pair} : le temps du bilan", catch_up=(_ATTRIBUTED, "bilan_window_end"),
          late_until="bilan_window_end"),
    _rule("bilan_escalation", _ATTRIBUTED, "bilan_window_end", 1, ("academie",),
          "partnership", {"bilan_recorded"} | _ENDED, "bilan_escalation",
          "Bilan non enregistré : jumelage {pair}", kind="escalation",
          late_until="school_year_end"),
    _rule("renewal_window", "bilan_recorded", "renewal_deadline", -14, ("school_referent", "school"),
          "partnership", {"renewal_requested"} | _ENDED, "renewal_window",
          "Poursuivre le jumelage{with_partner} : demandez le renouvellement",
          condition="may_ask_for_renewal", late_until="renewal_deadline"),
    _rule("jes_questionnaire", _ATTRIBUTED, "school_year_end", -21, REFERENTS,
          "partnership", _ENDED, "jes_questionnaire",
          "Jumelage d'échanges solidaires : questionnaire de fin d'année",
          dispositifs=frozenset({"entreprise"}), late_until="school_year_end"),
    # Decisions, told to the side they concern (see README "Decisions"). The school's referent
    # is its functional mailbox until it names one; the partner has no mailbox of its own: its
    # mail waits until its referent is named (a ReferentDesignated plans it), up to the end of
    # the work-meeting window, then it is recorded as missed.
    _decision("decision_attributed", "partnership_attributed", ("school_referent",), "partnership",
              "decision_attributed", "Jumelage attribué : {school_name}{with_partner} ({school_year})",
              cancelled_by=_ENDED, late_until="work_meeting_window_end"),
    _decision("decision_offer_chosen", {"partnership_attributed", "partner_referent_designated"},
              ("partner_referent",), "partnership", "decision_offer_chosen",
              "Votre offre est retenue : jumelage avec {school_name} ({school_year})",
              cancelled_by=_ENDED, condition="offer_chosen_for_a_partner", late_until="work_meeting_window_end"),
    _decision("decision_rejected", "candidature_rejected", ("school",), "candidature", "decision_rejected",
              "Candidature non retenue : {campaign_title}", late_days=30),
    _decision("decision_returned_for_correction", "candidature_returned_for_correction", ("school",), "candidature",
              "decision_returned_for_correction", "Candidature à corriger : {campaign_title}", late_days=30),
    _decision("decision_renewal_granted", "renewal_granted", REFERENTS, "partnership", "decision_renewal_granted",
              "Renouvellement accordé : jumelage {pair} ({school_year})",
              cancelled_by=_ENDED, late_until="work_meeting_window_end"),
    _decision("decision_renewal_declined", "renewal_declined", REFERENTS, "partnership", "decision_renewal_declined",
              "Renouvellement refusé : jumelage {pair} ({school_year})", late_days=30),
    # Programme: every action and meeting, J-7 and J-1, to the referents and the teachers.
    _rule("action_j_minus_7", {"action_scheduled", "action_rescheduled"}, "starts_at", -7,
          REFERENTS + ("teacher",), "action", {"action_rescheduled", "action_cancelled"} | _ENDED,
          "action", "Rappel : {label} dans 7 jours"),
    _rule("action_j_minus_1", {"action_scheduled", "action_rescheduled"}, "starts_at", -1,
          REFERENTS + ("teacher",), "action", {"action_rescheduled", "action_cancelled"} | _ENDED,
          "action", "Rappel : {label} demain"),
    _rule("meeting_j_minus_7", {"meeting_scheduled", "meeting_rescheduled"}, "starts_at", -7,
          REFERENTS, "meeting", {"meeting_rescheduled", "meeting_cancelled"} | _ENDED,
          "meeting", "Rappel : {label} dans 7 jours"),
    _rule("meeting_j_minus_1", {"meeting_scheduled", "meeting_rescheduled"}, "starts_at", -1,
          REFERENTS, "meeting", {"meeting_rescheduled", "meeting_cancelled"} | _ENDED,
          "meeting", "Rappel : {label} demain"),
)

RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in DEFAULT_RULES}


@dataclass(frozen=True)
class RuleOverride:
    """An académie's change to a rule for one dispositif (``"*"``: every dispositif).
    ``None`` fields keep the default."""

    academie: str
    dispositif: str
    rule: str
    enabled: bool | None = None
    offset_days: int | None = None
    at: time | None = None
    fixed_date: date | None = None


def rules_for(academie: str, dispositif: str | None, overrides: list[RuleOverride] | tuple[RuleOverride, ...] = (),
              rules: tuple[Rule, ...] = DEFAULT_RULES) -> tuple[Rule, ...]:
    """The rules in force for one académie and dispositif, overrides applied (specific beats ``*``)."""
    ranked = sorted((o for o in overrides if o.academie == academie and o.dispositif in ("*", dispositif)),
                    key=lambda o: o.dispositif != "*")
    result = []
    for rule in rules:
        if dispositif is not None and dispositif not in rule.dispositifs:
            continue
        for override in ranked:
            if override.rule == rule.name:
                rule = apply_override(rule, override)
        result.append(rule)
    return tuple(result)


def apply_override(rule: Rule, override: RuleOverride) -> Rule:
    changes: dict[str, object] = {}
    if override.enabled is not None:
        changes["enabled"] = override.enabled
    if override.offset_days is not None:
        changes["offset_days"] = override.offset_days
    if override.at is not None:
        changes["at"] = override.at
    if override.fixed_date is not None:
        changes["fixed_date"] = override.fixed_date
    return replace(rule, **changes)


# Retry policy of a failed delivery: bounded, growing delays (minutes). After the last one the
# reminder is given up (ReminderFailed final=true) and listed by the ops endpoint.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=25), timedelta(hours=2))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def retry_delay(attempt: int) -> timedelta | None:
    """Delay before attempt ``attempt + 1`` after attempt ``attempt`` failed; None: give up."""
    if attempt < 1 or attempt > len(RETRY_DELAYS):
        return None
    return RETRY_DELAYS[attempt - 1]
