"""Streams, provisioned idempotently (add, or update when it exists) at start-up and by
``jumelage provision``.

One stream per producing service (``<ROOT>_<SOURCE>`` on ``<root>.<source>.>``) and one
dead-letter stream (``<ROOT>_DEADLETTER`` on ``<root>.deadletter.>``). File storage; a duplicate
window inside which JetStream drops a re-sent ``Nats-Msg-Id``; no limits by default, and when
limits are set the stream refuses new messages rather than silently dropping old ones (the relay
then backs off and the outbox holds the events).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from typing import Iterable

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from jumelage_contracts.subjects import (
    DEFAULT_ROOT,
    SOURCES,
    dead_letter_stream,
    service_filter,
    stream_name,
)

from ..logging import get_logger
from .connection import NatsConnection

log = get_logger("eventkit.bus")


@dataclass(frozen=True)
class StreamLimits:
    """Retention of the event streams. ``None`` means unlimited."""

    max_age: float | None = None  # seconds
    max_bytes: int | None = None
    max_msgs: int | None = None
    duplicate_window: float = 120.0  # seconds
    replicas: int = 1
    discard_old: bool = False  # True: drop the oldest events when a limit is hit

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "StreamLimits":
        """``NATS_STREAM_MAX_AGE_DAYS``, ``NATS_STREAM_MAX_BYTES``, ``NATS_STREAM_MAX_MSGS``,
        ``NATS_DUPLICATE_WINDOW_SECONDS``, ``NATS_STREAM_REPLICAS``, ``NATS_STREAM_DISCARD_OLD``."""
        env = dict(os.environ if env is None else env)

        def num(name: str, kind=float):
            raw = env.get(name)
            return kind(raw) if raw not in (None, "") else None

        days = num("NATS_STREAM_MAX_AGE_DAYS")
        return cls(
            max_age=days * 86400 if days else None,
            max_bytes=num("NATS_STREAM_MAX_BYTES", int),
            max_msgs=num("NATS_STREAM_MAX_MSGS", int),
            duplicate_window=num("NATS_DUPLICATE_WINDOW_SECONDS") or 120.0,
            replicas=num("NATS_STREAM_REPLICAS", int) or 1,
            discard_old=env.get("NATS_STREAM_DISCARD_OLD", "0") in ("1", "true", "yes"),
        )


def stream_config(name: str, subjects: list[str], limits: StreamLimits, description: str) -> StreamConfig:
    return StreamConfig(
        name=name,
        description=description,
        subjects=subjects,
        retention=RetentionPolicy.LIMITS,  # consumers come and go; the stream keeps the history
        storage=StorageType.FILE,
        num_replicas=limits.replicas,
        duplicate_window=limits.duplicate_window,
        max_age=limits.max_age or 0,
        max_bytes=limits.max_bytes or -1,
        max_msgs=limits.max_msgs or -1,
        discard=DiscardPolicy.OLD if limits.discard_old else DiscardPolicy.NEW,
    )


async def ensure_stream(nats: NatsConnection, config: StreamConfig) -> None:
    """Add the stream, or update it to ``config`` when it exists (two processes may race).

    An update never lowers the replicas of an existing stream: one process started with a
    missing or wrong ``NATS_STREAM_REPLICAS`` on a cluster would otherwise turn every R3 stream
    into a single copy, silently. Scaling down stays an operator's deliberate act
    (``nats stream edit --replicas``); scaling up by configuration is allowed.
    """
    js = nats.js
    assert js is not None, "NATS not connected"
    try:
        existing = await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except BadRequestError:
            # another process created it between our two calls: update below
            existing = await js.stream_info(config.name)
    await js.update_stream(replicas_never_lowered(config, existing.config))


def replicas_never_lowered(wanted: StreamConfig, existing: StreamConfig) -> StreamConfig:
    """``wanted``, with the existing stream's replicas when it has more."""
    have, want = existing.num_replicas or 1, wanted.num_replicas or 1
    if want >= have:
        return wanted
    log.warning("stream_replicas_kept", stream=wanted.name, replicas=have, configured=want,
                hint="NATS_STREAM_REPLICAS is lower than the stream's replicas; set it to match")
    return replace(wanted, num_replicas=have)


def event_stream_config(source: str, root: str = DEFAULT_ROOT, limits: StreamLimits | None = None) -> StreamConfig:
    return stream_config(stream_name(source, root), [service_filter(source, root)], limits or StreamLimits(),
                         f"events published by {source}")


def dead_letter_stream_config(root: str = DEFAULT_ROOT, limits: StreamLimits | None = None) -> StreamConfig:
    limits = limits or StreamLimits()
    return stream_config(dead_letter_stream(root), [f"{root}.deadletter.>"], limits,
                         "messages a consumer could not handle, with the error and the original")


async def provision_now(nats: NatsConnection, root: str = DEFAULT_ROOT, sources: Iterable[str] = SOURCES,
                        limits: StreamLimits | None = None) -> None:
    for source in sources:
        await ensure_stream(nats, event_stream_config(source, root, limits))
    await ensure_stream(nats, dead_letter_stream_config(root, limits))


async def provision(nats: NatsConnection, root: str = DEFAULT_ROOT, sources: Iterable[str] = SOURCES,
                    limits: StreamLimits | None = None) -> None:
    """Provision the streams now when NATS is up, and again after every reconnect.

    Never raises because NATS is down: a service starts regardless and provisions when NATS comes.
    """
    sources = tuple(sources)
    limits = limits or StreamLimits.from_env()

    async def hook() -> None:
        # JetStream may answer a moment after the client reconnects: retry a few times
        for delay in (0.2, 0.5, 1.0, 2.0, 4.0, 0.0):
            try:
                await provision_now(nats, root, sources, limits)
                return
            except (BadRequestError, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - logged, retried
                log.warning("provision_failed", root=root, error=repr(exc))
                if not delay:
                    raise
                await asyncio.sleep(delay)

    key = f"provision:{root}:{','.join(sources)}"
    if nats.connected:
        await hook()
    nats.on_connect(key, hook, run_now=False)
