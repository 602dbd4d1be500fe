"""A sample history for tests and benchmarks: one partnership over three school years, played
through the deciders, exactly ``total`` events long."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from jumelage_contracts.programmes import ClassParticipation, MeetingKind, ReferentRole, Side, SideEvaluation

from programmes.domain import commands as c
from programmes.domain import decide, fold

SATISFIED = SideEvaluation(satisfaction=4, wish_to_continue=True)


def _at(y: int, m: int, d: int, h: int = 9) -> datetime:
    return datetime(y, m, d, h, tzinfo=timezone.utc)


def three_year_partnership(open_year: Callable[[int, int], Any], class_ids: tuple[str, ...],
                           total: int = 500) -> list:
    """Per year (2025, 2026, 2027): ``open_year(year_index, start_year)``, both referents, both
    signatures, the bilan meeting scheduled, workshops for each class in turn (one in seven
    cancelled, the others completed), the bilan meeting held and the bilan; then the end."""
    events: list = []
    state = fold([])

    def run(command: Any) -> None:
        nonlocal state
        new = decide(command, state)
        events.extend(new)
        state = fold(new, state)

    # per year: opened, 2 referents, 2 signatures, bilan meeting scheduled + held, bilan (8); years
    # 1 and 2 close on renewal (2); the end closes and ends (2). The rest are actions.
    budget = total - 3 * 8 - 2 - 2
    for year_index, start in ((1, 2025), (2, 2026), (3, 2027)):
        left = budget // 3 + (budget % 3 if year_index == 3 else 0)
        run(open_year(year_index, start))
        run(c.DesignateReferent(f"rs{start}", Side.school, ReferentRole.teacher, "Claire Martin",
                                "claire.martin@ac-paris.fr", _at(start, 9, 5)))
        run(c.DesignateReferent(f"rp{start}", Side.partner, ReferentRole.coordinator, "Yannick Lebrun",
                                "y.lebrun@carnavalet.example.fr", _at(start, 9, 5)))
        run(c.SignConvention(Side.school, "Directrice", _at(start, 9, 10)))
        run(c.SignConvention(Side.partner, "Directeur", _at(start, 9, 11)))
        run(c.ScheduleMeeting(f"bilan{start}", MeetingKind.bilan, _at(start + 1, 6, 2, 17), "Ecole",
                              _at(start, 9, 12)))
        n = 0
        while left > 0:
            when = _at(start, 10, 1) + timedelta(days=(n * 3) % 230)
            class_id = class_ids[n % len(class_ids)]
            run(c.ScheduleAction(f"a{start}-{n}", "workshop", "Atelier", (class_id,), when, 90, "Musee",
                                 _at(start, 9, 20)))
            left -= 1
            if left > 0 and n % 7 == 6:
                run(c.CancelAction(f"a{start}-{n}", "intervenant absent", when - timedelta(days=1)))
                left -= 1
            elif left > 0:
                run(c.CompleteAction(f"a{start}-{n}", when + timedelta(hours=2),
                                     (ClassParticipation(class_id=class_id, pupils_present=20),)))
                left -= 1
            n += 1
        run(c.HoldMeeting(f"bilan{start}", "Bilan", _at(start + 1, 6, 2, 19)))
        run(c.RecordBilan(SATISFIED, SATISFIED, _at(start + 1, 6, 3)))
    run(c.EndPartnership("completed", _at(2028, 7, 4)))
    if len(events) != total:
        raise AssertionError(f"the sample made {len(events)} events, not {total}")
    return events
