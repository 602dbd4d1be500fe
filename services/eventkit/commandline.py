"""The shape of every ``python -m <service>`` command line: a description and examples under
``--help`` (``tests/unit/test_cli_help.py`` fails a command that has no example)."""

from __future__ import annotations

import argparse
from typing import Any, Sequence


def _epilog(examples: Sequence[str]) -> str:
    return "Example:\n" + "\n".join(f"  {line}" for line in examples)


def command_parser(prog: str, description: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    """A service's top-level parser; ``examples`` are whole command lines shown under ``--help``."""
    return argparse.ArgumentParser(prog=prog, description=description, epilog=_epilog(examples),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_command(commands: Any, name: str, help: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    """A subcommand of ``commands`` (from ``add_subparsers``), with the same help and examples shape."""
    return commands.add_parser(name, help=help, description=help, epilog=_epilog(examples),
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def add_workers_option(*parsers: argparse.ArgumentParser) -> None:
    """``--workers N`` on a service's command line and its ``serve`` command (beats ``WORKERS``)."""
    for parser in parsers:
        parser.add_argument("--workers", type=_positive, default=argparse.SUPPRESS, metavar="N",
                            help="worker processes serving the port (default: WORKERS, else 1)")


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number
