"""Entry point: ``python -m programmes`` runs uvicorn on the settings' host and port."""

from __future__ import annotations

import argparse

from eventkit.commandline import add_command, command_parser
from eventkit.runtime import serve
from eventkit.settings import ServiceSettings

from programmes.bootstrap import SERVICE, build_app


def parser() -> argparse.ArgumentParser:
    top = command_parser("python -m programmes",
                         "The programmes service: referents, conventions, meetings, actions per class, bilans. "
                         "Settings come from the environment (DATABASE_URL, NATS_URL, PORT, JWT_SECRET…).",
                         ["python -m programmes",
                          "DATABASE_URL=postgresql://user@db/programmes python -m programmes serve"])
    commands = top.add_subparsers(dest="command")
    add_command(commands, "serve", "run the HTTP API, the outbox relay and the consumers (default)",
                ["PORT=8102 python -m programmes serve"])
    return top


def main(argv: list[str] | None = None) -> None:
    parser().parse_args(argv)
    settings = ServiceSettings.from_env(SERVICE)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
