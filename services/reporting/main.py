"""``python -m reporting`` serves the API; ``python -m reporting rebuild`` rebuilds the read models;
``python -m reporting parked`` lists the events waiting for their cause."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from eventkit.commandline import add_command, add_workers_option, command_parser
from eventkit.settings import ServiceSettings


def create_app():
    """What each worker process serves (``eventkit.runtime.serve`` imports it by name)."""
    from reporting.bootstrap import build_app

    return build_app(ServiceSettings.from_env("reporting"))


async def show_parked(settings: ServiceSettings, limit: int, as_json: bool) -> int:
    """Print what is parked; exit status 0 when nothing is, 1 otherwise (for a check)."""
    from eventkit.sql import make_engine
    from reporting.app.parked import parked_events

    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            report = await parked_events(conn, limit)
    finally:
        await engine.dispose()
    if as_json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(f"{report['parked']} event(s) parked in generation {report['generation']}\n")
        for item in report["items"]:
            sys.stdout.write(f"{item['parked_at']}  {item['source']} {item['type']} {item['stream_id']} "
                             f"v{item['stream_version']} ({item['event_id']}) waits for {item['waiting_for']}\n")
    return 1 if report["parked"] else 0


def parser() -> argparse.ArgumentParser:
    top = command_parser("python -m reporting", "The reporting service: read models of every event, indicators, "
                         "CSV, dashboard. Settings come from the environment (DATABASE_URL, NATS_URL, PORT…).",
                         ["python -m reporting", "python -m reporting parked --json"])
    sub = top.add_subparsers(dest="command")
    serve = add_command(sub, "serve", "run the HTTP API and the consumers (default)",
                        ["PORT=8104 python -m reporting serve", "WORKERS=2 python -m reporting serve"])
    add_workers_option(top, serve)
    rebuild = add_command(sub, "rebuild", "rebuild every read model from the JetStream streams, then swap",
                          ["python -m reporting rebuild --batch-size 5000"])
    rebuild.add_argument("--batch-size", type=int, default=2000)
    parked = add_command(sub, "parked", "list the events held until their cause is projected "
                                        "(exit status 1 while any is)",
                         ["python -m reporting parked --limit 20"])
    parked.add_argument("--limit", type=int, default=100)
    parked.add_argument("--json", action="store_true", help="the JSON of GET /parked")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "parked":
        sys.exit(asyncio.run(show_parked(ServiceSettings.from_env("reporting"), args.limit, args.json)))
    if args.command == "rebuild":
        from reporting.app.rebuild import rebuild_from_env

        report = asyncio.run(rebuild_from_env(ServiceSettings.from_env("reporting"), batch_size=args.batch_size))
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from eventkit.runtime import serve_service

    serve_service("reporting", "reporting.main:create_app", args)
