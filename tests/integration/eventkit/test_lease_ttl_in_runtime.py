"""A service's relay and every durable consumer take their lease TTL from LEASE_TTL_SECONDS
(real NATS JetStream, the SQLite store): the setting is what the leases renew and expire on."""

from __future__ import annotations

import pytest

from eventkit.runtime import ServiceRuntime
from eventkit.settings import ServiceSettings

pytestmark = pytest.mark.integration


async def test_the_runtime_gives_its_relay_and_every_consumer_the_settings_lease_ttl(tmp_path, nats_url, subject_root):
    settings = ServiceSettings.from_env("programmes", {
        "JUMELAGE_DATA_DIR": str(tmp_path), "NATS_URL": nats_url, "NATS_SUBJECT_ROOT": subject_root,
        "LEASE_TTL_SECONDS": "4", "LOG_JSON": "0"})
    runtime = ServiceRuntime(settings)

    async def handler(tx, envelope, data):
        return None

    runtime.add_consumer("programmes-from-candidatures", source="candidatures", handler=handler)
    runtime.add_consumer("programmes-from-notifications", source="notifications", handler=handler)
    await runtime.start()
    try:
        assert runtime._relay.lease.ttl == 4.0
        assert {runner.name: runner.lease.ttl for runner in runtime._consumer_runners} == {
            "programmes-from-candidatures": 4.0, "programmes-from-notifications": 4.0}
    finally:
        await runtime.stop()
