"""Property: whatever schedules, cancellations and completions happened during a year, the bilan's
planned / realised / cancelled counts per class equal a direct count over the year's events."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from jumelage_contracts.programmes import (
    ActionCancelled,
    ActionCompleted,
    ActionScheduled,
    BilanRecorded,
    ClassCancelled,
    ClassParticipation,
    MeetingKind,
    SideEvaluation,
)
from programmes.domain import commands as c
from programmes.domain import decide, fold
from programmes.domain.errors import DomainError
from programmes_builders import at, open_year
from jumelage_contracts.programmes import ProgrammeClass

CLASS_IDS = ("cm1-a", "cm2-b", "ce2-c")
CLASSES = tuple(ProgrammeClass(class_id=cid, label=cid.upper(), level=lv, pupils=25)
                for cid, lv in zip(CLASS_IDS, ("CM1", "CM2", "CE2")))
FIRST_DAY = at(2025, 9, 1)
EVAL = SideEvaluation(satisfaction=4, wish_to_continue=True)

action_ids = st.integers(min_value=0, max_value=50)  # resolved against the actions already scheduled
days = st.integers(min_value=-20, max_value=340)  # some fall outside the school year on purpose

schedules = st.tuples(st.just("schedule"), action_ids, st.sets(st.sampled_from(CLASS_IDS), min_size=1), days,
                      st.sampled_from(["visit", "workshop", "performance"]))
# Completion is dated relative to the action: mostly after it, sometimes (refused) before.
completions = st.tuples(st.just("complete"), action_ids, st.integers(min_value=0, max_value=25),
                        st.integers(min_value=-3, max_value=30))
operations = st.one_of(
    schedules, schedules, completions, completions,
    st.tuples(st.just("reschedule"), action_ids, days),
    st.tuples(st.just("cancel"), action_ids),
    # Cancelling a class is rare in life and would starve every later schedule: one draw in five.
    st.tuples(st.just("cancel_class"), st.sampled_from(CLASS_IDS), st.integers(min_value=0, max_value=4)),
)


def resolve(state, index: int) -> str:
    known = list(state.year.actions)
    return known[index % len(known)] if known else "none"


def command_of(op, now, state):
    """The command a drawn operation stands for, given the state it will be decided on."""
    kind = op[0]
    if kind == "schedule":
        _, _, classes, day, action_kind = op
        aid = f"a{len(state.year.actions)}"
        return c.ScheduleAction(aid, action_kind, "Action", tuple(sorted(classes)), FIRST_DAY + timedelta(days=day),
                                90, "Musee", now)
    if kind == "reschedule":
        return c.RescheduleAction(resolve(state, op[1]), FIRST_DAY + timedelta(days=op[2]), now)
    if kind == "cancel":
        return c.CancelAction(resolve(state, op[1]), "empeche", now)
    if kind == "complete":
        _, index, present, late_by = op
        aid = resolve(state, index)
        action = state.year.actions.get(aid)
        classes = [cid for cid in (action.class_ids if action else ()) if not state.year.classes[cid].cancelled]
        participants = tuple(ClassParticipation(class_id=cid, pupils_present=present) for cid in classes)
        when = (action.starts_at if action else FIRST_DAY) + timedelta(days=late_by)
        return c.CompleteAction(aid, when, participants)
    if op[2] == 0:
        return c.CancelClass(op[1], "classe fermee", now)
    return None


def direct_counts(events) -> dict[str, tuple[int, int, int, int]]:
    planned, realised, reached = Counter(), Counter(), Counter()
    cancelled: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if isinstance(e, ActionScheduled):
            planned.update(e.class_ids)
        elif isinstance(e, ActionCompleted):
            realised.update(e.class_ids)
            for p in e.participants:
                reached[p.class_id] += p.pupils_present
        elif isinstance(e, ActionCancelled):
            for cid in e.class_ids:
                cancelled[cid].add(e.action_id)
        elif isinstance(e, ClassCancelled):
            cancelled[e.class_id] |= set(e.cancelled_action_ids)
    return {cid: (planned[cid], realised[cid], len(cancelled[cid]), reached[cid]) for cid in CLASS_IDS}


@settings(max_examples=150, deadline=None)
@given(st.lists(operations, min_size=5, max_size=40))
def test_the_bilan_counts_per_class_equal_a_direct_count_of_the_events(ops):
    events = decide(open_year(classes=CLASSES), fold([]))
    now = at(2025, 9, 2)
    for op in ops:
        state = fold(events)
        command = command_of(op, now, state)
        if command is None:
            continue
        try:
            events += decide(command, state)
        except DomainError:
            pass  # a refused command changes nothing; the property is about what was recorded
    bilan_meeting = c.ScheduleMeeting("bilan", MeetingKind.bilan, at(2026, 6, 2, 17), "Ecole", now)
    events += decide(bilan_meeting, fold(events))
    events += decide(c.HoldMeeting("bilan", "bilan", at(2026, 6, 2, 19)), fold(events))
    (bilan,) = decide(c.RecordBilan(EVAL, EVAL, at(2026, 6, 3)), fold(events))
    assert isinstance(bilan, BilanRecorded)
    computed = {row.class_id: (row.planned, row.realised, row.cancelled, row.pupils_reached) for row in bilan.per_class}
    assert computed == direct_counts(events)
    assert bilan.planned == sum(isinstance(e, ActionScheduled) for e in events)
    assert bilan.realised == sum(isinstance(e, ActionCompleted) for e in events)
    for row in bilan.per_class:
        assert row.realised + row.cancelled <= row.planned
