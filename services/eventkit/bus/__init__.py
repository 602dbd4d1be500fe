"""The kit's NATS side: connection, stream provisioning, outbox relay, durable consumers.

Built on nats-py directly, not FastStream: FastStream's defaults are wrong for event consumers
(a raising handler terminates the message, a fetched batch is handled concurrently, every message
is logged, publishing is one awaited round trip with no ``Nats-Msg-Id``). The kit needs precise
control over acks, ordering, batching and deduplication, so it says each of them explicitly.
"""

from .connection import NatsConnection
from .consumer import Consumer, DeadLetterHeader, Undecodable
from .deadletters import DeadLetter, Replayed, list_dead_letters, replay
from .provision import StreamLimits, dead_letter_stream_config, ensure_stream, event_stream_config, provision, provision_now
from .lease import LeaseLost, StoreLease
from .relay import Backoff, OutboxRelay

__all__ = [
    "NatsConnection", "Consumer", "DeadLetterHeader", "Undecodable", "StreamLimits", "dead_letter_stream_config",
    "ensure_stream", "event_stream_config", "provision", "provision_now", "Backoff", "LeaseLost", "OutboxRelay",
    "DeadLetter", "Replayed", "list_dead_letters", "replay",
]
