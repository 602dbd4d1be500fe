"""A non-editable install (what the Docker image does) must carry every file the services read
at run time: migration scripts, templates, the contracts' schemas, examples and fixture data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_PARTS = {"__pycache__", "jumelage.egg-info"}


def build_wheel(source: Path, out: Path) -> set[str]:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(source)], check=True, capture_output=True)
    (wheel,) = out.glob("*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def shipped_files(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and not SKIP_PARTS & set(path.parts) and path.suffix not in (".pyc", ".md")
    }


def test_the_services_wheel_carries_every_runtime_file(tmp_path):
    names = build_wheel(ROOT, tmp_path)
    missing = sorted(shipped_files(ROOT / "services") - names)
    assert missing == []


def test_the_contracts_wheel_carries_schemas_examples_and_data(tmp_path):
    names = build_wheel(ROOT / "contracts", tmp_path)
    package = ROOT / "contracts" / "jumelage_contracts"
    expected = {f"jumelage_contracts/{name}" for name in shipped_files(package)}
    assert any("schemas/" in n for n in expected) and any("examples/" in n for n in expected)
    assert sorted(expected - names) == []
