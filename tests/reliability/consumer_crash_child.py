"""A consumer process for the crash tests: the kit's ``Consumer`` with an order-sensitive projection,
which the test kills (SIGKILL, from inside, at a chosen moment) and starts again.

The projection reads ``CampaignOpened`` as a cause and ``CampaignClosed`` of the same campaign as
its effect. An effect whose cause it has not seen is counted as *dropped* (what a projection that
assumes order does: reporting dropped such cancellations). Everything is written through the
kit's transaction, so what the database holds is what was committed.

Environment: ``CHILD_DATABASE_URL``, ``CHILD_NATS_URL``, ``CHILD_ROOT``, ``CHILD_ACK_WAIT``
(seconds), ``CHILD_LEASE_TTL`` (seconds, the consumer's lease), ``CHILD_KILL`` = ``<moment>:<n>`` — kill this process at the n-th time it reaches
``moment``: ``fetched`` (a batch is in hand, nothing of it committed) or ``committed`` (a
transaction committed, its acks not yet sent); ``<moment>:<n>:stop`` freezes it there (SIGSTOP)
instead, until the test sends SIGCONT. Empty: run until SIGTERM, then stop gracefully.

Run as ``python -m tests.reliability.consumer_crash_child`` from the repository root.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime, timezone

from eventkit.bus import Consumer, NatsConnection
from eventkit.runtime import ConsumerSpec
from eventkit.sql import open_store
from jumelage_contracts import Envelope

CONSUMER = "reporting-crash"


def projection_row(kind: str, campaign_id: str, envelope: Envelope) -> Envelope:
    return Envelope(type=kind, source="reporting", stream_id=kind, occurred_at=datetime.now(timezone.utc),
                    correlation_id=envelope.correlation_id,
                    data={"campaign_id": campaign_id, "event_id": str(envelope.id)})


async def ordered_projection(tx, envelope: Envelope, event) -> None:
    cid = event.campaign_id
    if envelope.type == "CampaignOpened":
        await tx.append(f"opened-{cid}", [projection_row("Opened", cid, envelope)])
        await tx.append("opened", [projection_row("Opened", cid, envelope)])
    elif envelope.type == "CampaignClosed":
        if await tx.stream_version(f"opened-{cid}") == 0:
            await tx.append("dropped", [projection_row("Dropped", cid, envelope)])
        else:
            await tx.append("closed", [projection_row("Closed", cid, envelope)])


class CrashingConsumer(Consumer):
    """Dies by SIGKILL (no finally, no ack, no goodbye) at the configured moment — or, with
    ``:stop``, freezes there by SIGSTOP until the test sends SIGCONT (once)."""

    kill_at: tuple[str, int] | None = None
    kill_signal = signal.SIGKILL
    reached = 0

    def _maybe_die(self, moment: str) -> None:
        if self.kill_at is not None and self.kill_at[0] == moment:
            self.reached += 1
            if self.reached >= self.kill_at[1]:
                if self.kill_signal == signal.SIGSTOP:
                    self.kill_at = None  # woken up, it goes on as a normal process
                os.kill(os.getpid(), self.kill_signal)

    async def _apply_batch(self, msgs):
        self._maybe_die("fetched")
        return await super()._apply_batch(msgs)

    async def _handle(self, msg, rest):
        self._maybe_die("fetched")
        return await super()._handle(msg, rest)

    async def _ack(self, msg) -> None:
        self._maybe_die("committed")
        await super()._ack(msg)


async def main() -> None:
    store = await open_store(os.environ["CHILD_DATABASE_URL"])
    nats = NatsConnection(os.environ["CHILD_NATS_URL"], name="crash-child", reconnect_wait=0.1)
    await nats.start()
    spec = ConsumerSpec(name=CONSUMER, source="candidatures", handler=ordered_projection)
    consumer = CrashingConsumer(spec, store, nats, subject_root=os.environ["CHILD_ROOT"], service="reporting",
                                batch_size=10, fetch_timeout=0.2, ack_wait=float(os.environ.get("CHILD_ACK_WAIT", "30")),
                                backoff_initial=0.05, backoff_max=0.2,
                                lease_ttl=float(os.environ.get("CHILD_LEASE_TTL", "10")))
    kill = os.environ.get("CHILD_KILL", "")
    if kill:
        moment, n, *how = kill.split(":")
        consumer.kill_at = (moment, int(n))
        if how == ["stop"]:
            consumer.kill_signal = signal.SIGSTOP
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(consumer.run())
    print("started", flush=True)
    await stop.wait()
    await consumer.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await nats.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
