"""dev.py's argument handling: asking for help installs no browser, a test run does."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev(monkeypatch):
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls: list[str] = []
    monkeypatch.setattr(module, "ensure_installed", lambda: calls.append("install"))
    monkeypatch.setattr(module, "ensure_browser", lambda: calls.append("browser"))
    monkeypatch.setattr(module.subprocess, "call", lambda argv, cwd=None: calls.append(" ".join(argv[1:])) or 0)
    module.calls = calls
    return module


@pytest.mark.parametrize("argv", [["test", "--help"], ["test", "-h"], ["test", "--collect-only", "-q"]])
def test_asking_pytest_for_help_or_the_test_list_gets_no_browser(dev, argv):
    assert dev.main(argv) == 0
    assert "browser" not in dev.calls and dev.calls[0] == "install"
    assert dev.calls[-1].startswith("-m pytest " + argv[1])


def test_a_test_run_gets_the_browser_before_pytest(dev):
    assert dev.main(["test", "-k", "store"]) == 0
    assert dev.calls == ["install", "browser", "-m pytest -k store"]


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["-h"], 0), ([], 2), (["nope"], 2)])
def test_the_usage_is_printed_without_installing_anything(dev, capsys, argv, code):
    assert dev.main(argv) == code
    assert "python3 dev.py test" in capsys.readouterr().out and dev.calls == []
