"""The retention policy of programmes on the in-memory store: a RetentionExpired as the consumer
delivers it erases the partnership's referents the rule frees, the views read « personne
effacée » at once (the cached state is dropped), and the same expiry again erases nobody twice."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from eventkit.shredding import Keyring, SealingStore
from jumelage_contracts import to_envelope
from jumelage_contracts.notifications import RetentionExpired
from jumelage_contracts.personal import ERASED
from programmes.app.retention import RetentionPolicies
from programmes_api_support import attributed, make_harness, renewed

UTC = timezone.utc


def expired(pid: str, year_index: int = 1) -> RetentionExpired:
    return RetentionExpired(partnership_id=pid, dispositif="culture", school_year="2025-2026", year_index=year_index,
                            retained_from=datetime(2026, 8, 31, 22, tzinfo=UTC), retention_years=3,
                            due_at=datetime(2029, 8, 31, 22, tzinfo=UTC), expired_at=datetime(2029, 9, 1, tzinfo=UTC))


async def designate(h, pid: str, person: str, name: str) -> None:
    r = await h.client.post(f"/partnerships/{pid}/referents", headers=h.school, json={
        "referent_id": person, "side": "school", "role": "teacher", "name": name, "email": f"{person}@ac-paris.fr"})
    assert r.status_code in (200, 201), r.text


async def names(h, pid: str) -> dict[str, str]:
    view = (await h.client.get(f"/partnerships/{pid}", headers=h.academie)).json()
    return {r["referent_id"]: r["name"] for r in view["current_year"]["referents"]}


async def test_an_expiry_erases_the_referents_it_frees_once_and_a_stale_one_nobody() -> None:
    h = make_harness()
    runtime = h.app.state.programmes.runtime
    runtime.store = SealingStore(h.store, Keyring("programmes"))
    policies = RetentionPolicies(h.app.state.programmes)

    async def deliver(event) -> None:
        envelope = to_envelope(event, stream_id=f"retention-{event.partnership_id}", occurred_at=event.expired_at,
                               correlation_id=uuid.uuid4(), academie="paris")
        async with runtime.store.transaction() as tx:
            await policies.on_event(tx, envelope, event)

    for pid in ("p1", "p2"):
        await h.deliver(attributed(pid))
    await designate(h, "p1", "ref-a", "Alice Moreau")
    await designate(h, "p1", "ref-b", "Bruno Petit")
    await designate(h, "p2", "ref-b", "Bruno Petit")
    await h.deliver(renewed(2, "p2"))
    assert await names(h, "p1") == {"ref-a": "Alice Moreau", "ref-b": "Bruno Petit"}  # folded and cached

    await deliver(expired("p2", 1))  # overtaken by p2's renewal: nothing
    await deliver(expired("p1"))
    assert await names(h, "p1") == {"ref-a": ERASED, "ref-b": "Bruno Petit"}
    await deliver(expired("p1"))  # the same expiry again, another event id
    await deliver(expired("p2", 2))
    assert await names(h, "p1") == {"ref-a": ERASED, "ref-b": ERASED}
    erasures = [e for e in await h.store.read_all(0, 10000) if e.type == "PersonErased"]
    assert sorted((e.data["person_id"], e.data["reason"]) for e in erasures) == [("ref-a", "retention"),
                                                                                ("ref-b", "retention")]
