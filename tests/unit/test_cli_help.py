"""Every command an operator can type answers ``--help`` with an example to copy.

The typer app and each service's ``python -m <service>`` parser are walked, so a command added
without an example fails here."""

from __future__ import annotations

import argparse
from importlib import import_module

import pytest
import typer
from typer.testing import CliRunner

from eventkit.cli import app

SERVICES = ("candidatures", "programmes", "notifications", "reporting")


def _typer_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    # a group has ``commands`` (typer carries its own copy of click's classes, so no isinstance)
    for name, sub in (getattr(command, "commands", None) or {}).items():
        paths += _typer_paths(sub, (*path, name))
    return paths


JUMELAGE_PATHS = _typer_paths(typer.main.get_command(app))


def test_the_walk_finds_the_operator_commands() -> None:
    assert {("token",), ("dead-letters", "replay"), ("outbox", "inspect")} <= set(JUMELAGE_PATHS)


@pytest.mark.parametrize("path", JUMELAGE_PATHS, ids=lambda p: " ".join(p) or "jumelage")
def test_every_jumelage_command_has_help_with_an_example(path) -> None:
    done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert done.exit_code == 0, done.output
    assert "Example" in done.output
    assert f"jumelage {' '.join(path)}".strip() in done.output


def _argparse_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    for action in parser._actions:  # argparse offers no public walk over its subcommands
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths += _argparse_paths(sub, (*path, name))
    return paths


SERVICE_PATHS = [(service, path) for service in SERVICES
                 for path in _argparse_paths(import_module(f"{service}.main").parser())]


def test_the_walk_finds_the_service_commands() -> None:
    assert {("reporting", ("rebuild",)), ("reporting", ("parked",)), ("notifications", ("rebuild",)),
            ("candidatures", ())} <= set(SERVICE_PATHS)


@pytest.mark.parametrize("service,path", SERVICE_PATHS, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_every_service_command_has_help_with_an_example(service, path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        import_module(f"{service}.main").main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"python -m {service} {' '.join(path)}".strip() in out
