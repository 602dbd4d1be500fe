"""``python3 dev.py run`` as a user meets it: a signal to its pid stops the whole stack, a taken
port or a data folder already in use is said before the banner and exits non-zero."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.infra.processes import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("candidatures", "programmes", "notifications", "reporting")
BANNER_END = "Ctrl-C stops everything."


def runner_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.endswith(("_DATABASE_URL", "NATS_URL")) and key not in ("DATABASE_URL", "CLOCK")}
    env.update({"JUMELAGE_VENV": sys.prefix, "JUMELAGE_DATA_DIR": str(data_dir), "NATS_SUBJECT_ROOT": "jumelage",
                "JUMELAGE_NATS_PORT": str(free_port()), "JUMELAGE_SMTP_PORT": str(free_port()),
                **{f"{name.upper()}_PORT": str(free_port()) for name in SERVICES}, **extra})
    return env


def start_runner(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "dev.py"), "run"], cwd=ROOT, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def wait_for_line(process: subprocess.Popen, log: Path, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            return output
        assert process.poll() is None, f"runner exited {process.returncode}:\n{output[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} after {timeout:g} s:\n{log.read_text(errors='replace')[-3000:]}")


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


CAMPAIGN = {
    "campaign_id": "culture-paris-2027", "academie": "paris", "dispositif": "culture",
    "school_year": "2027-2028", "title": "Jumelages culture 2027-2028",
    "calendar": {"submission_deadline": "2027-05-31T21:59:00Z", "attribution_date": "2027-07-04",
                 "work_meeting_window": {"start": "2027-09-15", "end": "2027-10-16"},
                 "bilan_window": {"start": "2028-05-10", "end": "2028-06-18"},
                 "renewal_deadline": "2028-06-25T21:59:00Z"}}


def try_it_as_the_readme_says(env: dict[str, str], data_dir: Path) -> None:
    """The README's "Try it" over the embedded bus (each service with its own NATS user), the
    operator CLI finding that bus by itself, and an anonymous client refused by it."""
    token = subprocess.run([str(Path(sys.prefix) / "bin" / "jumelage"), "token", "--role", "academie",
                            "--scope", "paris"], capture_output=True, text=True, check=True, env=env).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"http://127.0.0.1:{env['CANDIDATURES_PORT']}/campaigns", json=CAMPAIGN, headers=headers)
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 30
    while True:
        seen = httpx.get(f"http://127.0.0.1:{env['REPORTING_PORT']}/academies/paris/campaigns", headers=headers)
        if seen.status_code == 200 and seen.json()["campaigns_opened"] == 1:
            break
        assert time.monotonic() < deadline, seen.text
        time.sleep(0.2)
    cli_env = {k: v for k, v in env.items() if k != "NATS_URL"}
    listed = subprocess.run([str(Path(sys.prefix) / "bin" / "jumelage"), "dead-letters", "list", "--json",
                             "--timeout", "5"], capture_output=True, text=True, env=cli_env, cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    anonymous = subprocess.run([sys.executable, "-c", ANONYMOUS.format(port=env["JUMELAGE_NATS_PORT"])],
                               capture_output=True, text=True, timeout=30)
    assert anonymous.stdout.strip() == "refused", anonymous.stdout + anonymous.stderr


ANONYMOUS = """
import asyncio, nats
async def main():
    try:
        await nats.connect("nats://127.0.0.1:{port}", allow_reconnect=False, connect_timeout=2)
    except Exception:
        print("refused")
    else:
        print("connected")
asyncio.run(main())
"""


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads the process tree from /proc (Linux)")
def test_sigterm_to_dev_py_run_stops_every_process_it_started(tmp_path) -> None:
    env = runner_env(tmp_path / "var", CLOCK="manual")
    process = start_runner(env, tmp_path / "out.log")
    try:
        banner = wait_for_line(process, tmp_path / "out.log", BANNER_END)
        assert "clock         manual" in banner
        started = descendants(process.pid)
        assert len(started) >= 5, banner  # NATS and the four services
        try_it_as_the_readme_says(env, tmp_path / "var")

        # a second runner on the same data folder (other ports) is refused before it starts anything
        second = subprocess.run([sys.executable, str(ROOT / "dev.py"), "run"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60, env=runner_env(tmp_path / "var"))
        assert second.returncode == 1
        assert "in use by another runner" in second.stderr

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 10
    while (left := [pid for pid in started if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still running after the runner stopped: {left}"


def test_a_taken_nats_port_is_said_before_the_banner_and_exits_non_zero(tmp_path) -> None:
    env = runner_env(tmp_path / "var")
    port = int(env["JUMELAGE_NATS_PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run([sys.executable, str(ROOT / "dev.py"), "run"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "nats" in result.stderr
    assert BANNER_END not in result.stdout
    # nothing was started on the folder either: no NATS store, no service log
    assert not (tmp_path / "var" / "nats").exists() and not (tmp_path / "var" / "logs").exists()
