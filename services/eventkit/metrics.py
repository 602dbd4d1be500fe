"""Prometheus metrics of the kit, rendered by ``/metrics``.

One registry per process (a process runs one service; tests running several runtimes in one
process tell them apart by labels). Services add their own metrics with :func:`counter` /
:func:`gauge`, which return the existing metric when asked twice for the same name, so building
a second app in a test never fails on a duplicate registration.
"""

from __future__ import annotations

import threading
from typing import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# The process-wide registry: metrics are process state by nature (what one scrape reads).
REGISTRY = CollectorRegistry(auto_describe=True)
_lock = threading.Lock()
_made: dict[str, object] = {}


def _get_or_make(kind, name: str, documentation: str, labels: Sequence[str], **kw):
    with _lock:
        metric = _made.get(name)
        if metric is None:
            metric = kind(name, documentation, list(labels), registry=REGISTRY, **kw)
            _made[name] = metric
        return metric


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    return _get_or_make(Counter, name, documentation, labels)


def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
    return _get_or_make(Gauge, name, documentation, labels)


def histogram(name: str, documentation: str, labels: Sequence[str] = (), buckets=None) -> Histogram:
    kw = {"buckets": buckets} if buckets else {}
    return _get_or_make(Histogram, name, documentation, labels, **kw)


# -- outbox relay -------------------------------------------------------------------------------
RELAY_PUBLISHED = counter("jumelage_relay_published_total",
                          "Events the outbox relay published and JetStream acknowledged", ["source"])
RELAY_DUPLICATES = counter("jumelage_relay_duplicate_acks_total",
                           "Publishes JetStream acknowledged as duplicates (Nats-Msg-Id already seen)", ["source"])
RELAY_ERRORS = counter("jumelage_relay_publish_errors_total",
                       "Batches that failed to publish or to be acknowledged (retried from the checkpoint)",
                       ["source"])
RELAY_BACKLOG = gauge("jumelage_outbox_backlog",
                      "Events stored but not yet acknowledged by JetStream (last position - checkpoint)", ["source"])
RELAY_CHECKPOINT = gauge("jumelage_relay_checkpoint", "Last store position acknowledged by JetStream", ["source"])
CONSUMER_ACTIVE = gauge("jumelage_consumer_active",
                        "1 when this process holds the consumer's lease (the one active process of its durable)",
                        ["consumer"])
RELAY_LEADER = gauge("jumelage_relay_leader", "1 when this process holds the relay lease", ["source"])
RELAY_STALLED = gauge("jumelage_relay_stalled_seconds",
                      "How long the relay has been stuck on one event (0 while events flow); "
                      "/readyz names the event and the error", ["source"])
NATS_CONNECTED = gauge("jumelage_nats_connected", "1 while the service's NATS connection is up", ["service"])

# -- consumers ----------------------------------------------------------------------------------
CONSUMER_MESSAGES = counter("jumelage_consumer_messages_total",
                            "Messages handled by a durable consumer, by outcome "
                            "(applied, duplicate, retried, dead_lettered)", ["consumer", "outcome"])
CONSUMER_LAG = gauge("jumelage_consumer_lag",
                     "Messages of the stream not yet delivered to the consumer (JetStream num_pending)",
                     ["consumer"])
CONSUMER_ACK_PENDING = gauge("jumelage_consumer_ack_pending",
                             "Messages delivered to the consumer and not yet acknowledged", ["consumer"])
CONSUMER_LAST_SEQ = gauge("jumelage_consumer_last_stream_seq",
                          "Stream sequence of the last message the consumer applied or skipped", ["consumer"])


def render() -> bytes:
    """The registry in the Prometheus text exposition format."""
    return generate_latest(REGISTRY)
