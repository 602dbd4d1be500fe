"""``python -m notifications`` serves the API, the consumers and the scheduler;
``python -m notifications rebuild`` plans timers and feeds again from the source streams."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from eventkit.commandline import add_command, add_workers_option, command_parser
from eventkit.runtime import serve_service
from eventkit.settings import ServiceSettings

from .bootstrap import build
from .domain.retention import RetentionPolicy, RetentionSettingError


def parser() -> argparse.ArgumentParser:
    top = command_parser("python -m notifications", "The notifications service: reminders planned from events, "
                         "durable timers, e-mail, iCalendar feeds. Settings come from the environment "
                         "(DATABASE_URL, NATS_URL, SMTP_HOST, PUBLIC_URL…).",
                         ["python -m notifications", "python -m notifications rebuild"])
    sub = top.add_subparsers(dest="command")
    serve = add_command(sub, "serve", "run the HTTP API, the consumers and the scheduler (default)",
                        ["SMTP_HOST=127.0.0.1 SMTP_PORT=1025 python -m notifications serve",
                         "WORKERS=2 python -m notifications serve"])
    add_workers_option(top, serve)
    add_command(sub, "rebuild", "replay candidatures' and programmes' streams from the start and reconcile "
                                "timers, facts and feeds with them (sent reminders stay sent)",
                ["NATS_URL=nats://127.0.0.1:4250 python -m notifications rebuild"])
    return top


def create_app():
    """What each worker process serves (``eventkit.runtime.serve`` imports it by name)."""
    app, _ = build(ServiceSettings.from_env("notifications"))
    return app


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:  # checked before anything starts: a wrong retention must not be found in a worker's traceback
        RetentionPolicy.from_env(os.environ)
    except RetentionSettingError as exc:
        sys.stderr.write(f"notifications: {exc}\n")
        raise SystemExit(2) from None
    if args.command == "rebuild":
        from .app.rebuild import rebuild_from_env

        json.dump(asyncio.run(rebuild_from_env(ServiceSettings.from_env("notifications"))), sys.stdout,
                  indent=2, default=str)
        sys.stdout.write("\n")
        return
    serve_service("notifications", "notifications.main:create_app", args)


if __name__ == "__main__":
    main()
