"""Entry point: ``python -m programmes`` runs uvicorn on the settings' host and port."""

from __future__ import annotations

import argparse

from fastapi import FastAPI

from eventkit.commandline import add_command, add_workers_option, command_parser
from eventkit.runtime import serve_service
from eventkit.settings import ServiceSettings

from programmes.bootstrap import SERVICE, build_app


def parser() -> argparse.ArgumentParser:
    top = command_parser("python -m programmes",
                         "The programmes service: referents, conventions, meetings, actions per class, bilans. "
                         "Settings come from the environment (DATABASE_URL, NATS_URL, PORT, JWT_SECRET…).",
                         ["python -m programmes",
                          "DATABASE_URL=postgresql://user@db/programmes python -m programmes serve"])
    commands = top.add_subparsers(dest="command")
    serve = add_command(commands, "serve", "run the HTTP API, the outbox relay and the consumers (default)",
                        ["PORT=8102 python -m programmes serve",
                         "WORKERS=2 python -m programmes serve   # or: serve --workers 2"])
    add_workers_option(top, serve)
    return top


def create_app() -> FastAPI:
    """What each worker process serves (``eventkit.runtime.serve`` imports it by name)."""
    return build_app(ServiceSettings.from_env(SERVICE))


def main(argv: list[str] | None = None) -> None:
    serve_service(SERVICE, "programmes.main:create_app", parser().parse_args(argv))


if __name__ == "__main__":
    main()
