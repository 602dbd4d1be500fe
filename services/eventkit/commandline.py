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
