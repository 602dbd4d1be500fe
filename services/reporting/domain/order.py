"""When an event may be projected: never before its cause.

JetStream keeps each source in order, but a projection can still meet an effect first: a
redelivery after a crash, a republish, a dead letter replayed later. Projecting it anyway would
drop or misfile it (an ``ActionCancelled`` of an action not yet scheduled counts nothing, and the
``ActionScheduled`` arriving next cannot know). So an event waits — is *parked* — on the state key
of its cause, and is projected right after that key changes, in its stream's order.

Two kinds of cause:

- **its stream's previous event.** Every stored event carries its aggregate's ``stream_version``
  (1, 2, 3… within one stream of one source): event ``v`` waits until ``v - 1`` of the same stream
  has been projected (the ``stream:`` key holds the last version projected). That covers every
  cause within one aggregate — an action's cancellation after its scheduling, a meeting held
  after it was scheduled, a bilan or a renewal after the year it closes. Events without a version
  (0: made in tests, never by a store) are not sequenced;
- **another stream's event**, named by the source's ``waits_for`` (candidatures: an offer or a
  candidature needs its campaign, a candidature its offer, places released need the attribution).

Programmes and notifications facts read nothing from candidatures (they carry their own
classification), so the three sources may interleave in any order without waiting.
"""

from __future__ import annotations

from typing import Any, Mapping

LEGACY = "order:legacy"
"""State row of a generation projected before streams were sequenced: a stream it has never seen
may start past version 1 (its beginning was projected without being recorded)."""


def stream_key(source: str, stream_id: str) -> str:
    return f"stream:{source}:{stream_id}"


def waiting_key(key: str) -> str:
    """The state row counting the events parked on ``key`` (absent when none): what an event
    that changes ``key`` reads to know whether it releases anything, in the same round trip as
    the rest of its state."""
    return f"waiting:{key}"


def stream_blocker(source: str, stream_id: str, version: int, state: Mapping[str, Any]) -> str | None:
    """The stream key an event of version ``version`` waits on, or None when its turn has come."""
    if version <= 0:
        return None
    key = stream_key(source, stream_id)
    seen = state.get(key)
    if seen is None:
        return None if version == 1 or LEGACY in state else key
    return None if version <= int(seen["v"]) + 1 else key


def stream_advanced(state: Mapping[str, Any], source: str, stream_id: str, version: int,
                    key: str | None = None) -> dict[str, Any]:
    """The stream key's new value once the event of ``version`` is projected (``key``: its
    :func:`stream_key`, when the caller has it)."""
    seen = state.get(key or stream_key(source, stream_id)) or {}
    return {"v": max(int(seen.get("v") or 0), version)}
