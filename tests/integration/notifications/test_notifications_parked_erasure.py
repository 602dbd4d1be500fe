"""Issue 16's leftover on ``notif_parked``: an event held until its cause comes is stored there as
it arrived (its personal values opened). ``PersonErased`` erases a person's values (those whose
contract names a subject field, e.g. ReferentDesignated's ``referent_id``); this proves that no
event notifications may hold carries one, so an erasure has nothing to rewrite in the table.
Which events are held is asked of ``causes.missing_cause`` itself, on an empty store, for every
committed contract example — a new held event with a person's value fails here."""

from __future__ import annotations

import json

from jumelage_contracts import model_for
from jumelage_contracts.personal import Leaf, personal_plan
from notifications.app import causes
from tests.integration.notifications.notif_events import EXAMPLES


def person_fields(plan, path: str = "") -> list[str]:
    out = []
    for name, part in plan.items():
        if isinstance(part, Leaf):
            out += [f"{path}{name} (subject {part.subject_field})"] if part.subject_field else []
        else:
            out += person_fields(part, f"{path}{name}.")
    return out


async def test_no_event_notifications_may_hold_carries_a_person_s_values(harness) -> None:
    latest = {}  # each event type's example of its current version
    for path in sorted(EXAMPLES.glob("*.v*.json"), key=lambda p: int(p.name.split(".v")[1].split(".")[0])):
        latest[path.name.split(".")[0]] = path
    held: dict[str, list[str]] = {}
    for event_type, path in sorted(latest.items()):
        event = model_for(event_type).model_validate(json.loads(path.read_text()))
        async with harness.store.transaction() as tx:
            if await causes.missing_cause(tx.connection, event) is not None:
                held[event_type] = person_fields(personal_plan(event_type))
    assert {"ActionScheduled", "CandidatureSubmitted", "BilanRecorded"} <= set(held), held
    assert {t: f for t, f in held.items() if f} == {}
