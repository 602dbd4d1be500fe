"""docker-compose.yml cannot run on a machine without a Docker engine, so check what can be
checked: every service's image context, command, configuration files and health-gated start.
tests/e2e/test_thin_slice.py then runs the very commands it names against real NATS/PostgreSQL."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from eventkit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("candidatures", "programmes", "notifications", "reporting")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_declares_nats_postgres_and_the_four_services() -> None:
    assert set(compose()["services"]) == {"nats", "postgres", *APP_SERVICES}


def test_every_service_image_builds_from_a_context_that_exists() -> None:
    for name in APP_SERVICES:
        build = compose()["services"][name]["build"]
        context = ROOT / build["context"]
        assert context.is_dir(), name
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name


def test_every_service_command_names_a_runnable_module() -> None:
    for name in APP_SERVICES:
        command = compose()["services"][name]["command"]
        assert command[:2] == ["python", "-m"], name
        module = command[2]
        assert module == name
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} has no __main__"


def test_every_service_waits_for_healthy_nats_and_postgres_and_has_a_healthcheck() -> None:
    services = compose()["services"]
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["nats"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert "readyz" in " ".join(services[name]["healthcheck"]["test"])
    assert services["nats"]["healthcheck"]["test"]
    assert services["postgres"]["healthcheck"]["test"]


def test_every_service_gets_its_own_database_and_the_env_our_settings_read() -> None:
    init = (ROOT / "deploy/postgres/init.sql").read_text()
    seen = set()
    for name in APP_SERVICES:
        env = {k: str(v) for k, v in compose()["services"][name]["environment"].items()}
        settings = ServiceSettings.from_env(name, env=env)
        database = settings.database_url.rsplit("/", 1)[1]
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert f"CREATE DATABASE {database};" in init
        assert settings.nats_url == "nats://nats:4222"
        assert settings.host == "0.0.0.0"
        seen.add(database)
    assert len(seen) == len(APP_SERVICES)


def test_mounted_configuration_files_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
