"""The four APIs present themselves the same way: one title scheme and the project's version."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from eventkit.settings import ServiceSettings

SERVICES = ("candidatures", "programmes", "notifications", "reporting")


@pytest.mark.parametrize("service", SERVICES)
def test_every_openapi_document_carries_the_service_title_and_the_project_version(service, tmp_path) -> None:
    from importlib import import_module

    bootstrap = import_module(f"{service}.bootstrap")
    settings = ServiceSettings.from_env(service, env={}, database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    app = bootstrap.build(settings)[0] if service == "notifications" else bootstrap.build_app(settings)
    info = app.openapi()["info"]
    assert info["title"] == f"Jumelage — {service}"
    assert info["version"] == version("jumelage")
