"""The house rules on imports, enforced: services share only the contracts and the kit, and a
service's domain is pure (standard library and the contracts, nothing that does I/O)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("candidatures", "programmes", "notifications", "reporting")
STDLIB = set(sys.stdlib_module_names)
IO_MODULES = {"socket", "asyncio", "sqlite3", "subprocess", "urllib", "http", "smtplib", "ssl", "select"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts or p.suffix == ".py")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service: str) -> None:
    folder = ROOT / "services" / service
    assert folder.is_dir(), f"services/{service} is missing"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & (set(SERVICES) - {service}))
        for path in python_files(folder)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# Reporting has no decider: its projections are the adapters' job.
@pytest.mark.parametrize("service", ("candidatures", "programmes", "notifications"))
def test_a_service_domain_imports_only_the_standard_library_and_the_contracts(service: str) -> None:
    domain = ROOT / "services" / service / "domain"
    assert domain.is_dir(), f"services/{service}/domain is missing"
    bad: dict[str, list[str]] = {}
    for path in python_files(domain):
        roots = imported_roots(path)
        allowed = (STDLIB - IO_MODULES) | {"jumelage_contracts", service, "__future__"}
        extra = sorted(roots - allowed)
        if extra:
            bad[str(path.relative_to(ROOT))] = extra
    assert bad == {}


def test_the_kit_never_imports_a_service() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & set(SERVICES))
        for path in python_files(ROOT / "services" / "eventkit")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_contracts_import_nothing_but_pydantic_and_the_standard_library() -> None:
    package = ROOT / "contracts" / "jumelage_contracts"
    bad = {}
    for path in python_files(package):
        extra = sorted(imported_roots(path) - STDLIB - {"pydantic", "pydantic_core", "jumelage_contracts", "yaml", "jsonschema"})
        if extra:
            bad[str(path.relative_to(ROOT))] = extra
    assert bad == {}


def test_test_modules_have_distinct_names() -> None:
    """Test folders are not packages (modules import their helpers as siblings), so pytest
    imports each test module by its bare name: two files with one name break collection."""
    from collections import defaultdict

    seen: dict[str, list[str]] = defaultdict(list)
    for root in (ROOT / "tests", ROOT / "contracts" / "tests"):
        for path in root.rglob("*.py"):
            if "__pycache__" not in path.parts and path.name != "__init__.py" and path.parent.name != "infra":
                seen[path.name].append(str(path.relative_to(ROOT)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1 and name != "conftest.py"}
    assert clashes == {}
