"""``python -m notifications`` serves the API, the consumers and the scheduler;
``python -m notifications rebuild`` plans timers and feeds again from the source streams."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from eventkit.runtime import serve
from eventkit.settings import ServiceSettings

from .bootstrap import build


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m notifications")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API, the consumers and the scheduler (default)")
    sub.add_parser("rebuild", help="replay candidatures' and programmes' streams from the start and reconcile "
                                   "timers, facts and feeds with them (sent reminders stay sent)")
    args = parser.parse_args(argv)
    settings = ServiceSettings.from_env("notifications")
    if args.command == "rebuild":
        from .app.rebuild import rebuild_from_env

        json.dump(asyncio.run(rebuild_from_env(settings)), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    app, _ = build(settings)
    serve(app, settings)


if __name__ == "__main__":
    main()
