"""``python -m reporting`` serves the API; ``python -m reporting rebuild`` rebuilds the read models."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from eventkit.settings import ServiceSettings


def serve() -> None:
    from eventkit.runtime import serve
    from reporting.bootstrap import build_app

    settings = ServiceSettings.from_env("reporting")
    serve(build_app(settings), settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reporting")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP API and the consumers (default)")
    rebuild = sub.add_parser("rebuild", help="rebuild every read model from the JetStream streams, then swap")
    rebuild.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.command == "rebuild":
        from reporting.app.rebuild import rebuild_from_env

        report = asyncio.run(rebuild_from_env(ServiceSettings.from_env("reporting"), batch_size=args.batch_size))
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    serve()
