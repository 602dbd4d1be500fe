"""What is parked: events held until their cause is projected (``reporting.domain.order``).

Read by ``python -m reporting parked`` and ``GET /parked``. In order, nothing stays parked for
longer than a transaction or two; an event listed here for long waits for something that has not
reached reporting: the previous event of its stream (lost from JetStream, dead-lettered, or still
behind on its way) or a cause in another stream. It is released, in the same transaction, as soon
as that arrives — a ``jumelage republish`` or a dead-letter replay of the missing event is the cure.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.adapters import queries
from reporting.app.live import count_parked


def _waiting_for(waits_on: str, stream_version: int) -> str:
    kind, _, rest = waits_on.partition(":")
    if kind == "stream":
        return f"version {stream_version - 1} of stream {rest.partition(':')[2]} (and every one before it)"
    return f"the first event of {waits_on}"


async def parked_events(conn: AsyncConnection, limit: int = 100) -> dict[str, Any]:
    """The current generation's parked events, oldest first (at most ``limit``), and their count."""
    gen = await queries.current_generation(conn)
    p = gen.parked
    total = await count_parked(conn, gen)
    rows = (await conn.execute(
        select(p.c.event_id, p.c.type, p.c.source, p.c.stream_id, p.c.stream_version, p.c.position,
               p.c.occurred_at, p.c.parked_at, p.c.waits_on)
        .order_by(p.c.parked_at, p.c.source, p.c.position, p.c.event_id).limit(limit))).mappings().all()
    oldest = (await conn.execute(select(func.min(p.c.parked_at)))).scalar()
    return {
        "generation": gen.number, "parked": total, "oldest_parked_at": oldest.isoformat() if oldest else None,
        "items": [{**{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()},
                   "waiting_for": _waiting_for(row["waits_on"], row["stream_version"])} for row in rows],
    }
