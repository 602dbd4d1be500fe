"""docker-compose.yml cannot run on a machine without a Docker engine, so check what can be
checked: every service's image context, command, configuration files and health-gated start.
tests/e2e/test_thin_slice.py then runs the very commands it names against real NATS/PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import re

import pytest
import yaml

from eventkit.bus import StreamLimits
from eventkit.bus.connection import server_urls
from eventkit.settings import ServiceSettings
from tests.e2e.harness import COMPOSE_SECRETS, MissingVariable, interpolate

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("candidatures", "programmes", "notifications", "reporting")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


CLUSTER_MEMBERS = ("nats", "nats-2", "nats-3")
CLUSTER_REPLICAS = tuple(f"{name}-2" for name in APP_SERVICES)


def test_compose_declares_nats_postgres_mail_monitoring_and_the_four_services() -> None:
    assert set(compose()["services"]) == {"nats", "postgres", "keycloak", "mail", "prometheus", "grafana",
                                          *APP_SERVICES, *CLUSTER_MEMBERS, *CLUSTER_REPLICAS}


def cluster_env() -> dict[str, str]:
    """What an operator adds to .env for the cluster (deploy/nats/cluster.env), with the secrets."""
    lines = (ROOT / "deploy/nats/cluster.env").read_text().splitlines()
    added = dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {**COMPOSE_SECRETS, **added}


def resolved(service: dict, env: dict[str, str]) -> dict[str, str]:
    return {k: interpolate(str(v), env) for k, v in (service.get("environment") or {}).items()}


def test_the_cluster_profile_adds_two_nats_servers_and_a_second_replica_of_every_service() -> None:
    services = compose()["services"]
    env = cluster_env()
    assert env["COMPOSE_PROFILES"] == "cluster"
    for name in (*CLUSTER_MEMBERS[1:], *CLUSTER_REPLICAS):
        assert services[name]["profiles"] == ["cluster"], name
    for name in (*APP_SERVICES, "nats"):
        assert "profiles" not in services[name], f"{name} runs in every deployment"
    for name in APP_SERVICES:
        first, second = services[name], services[f"{name}-2"]
        assert second["command"] == first["command"] and second["build"] == first["build"]
        # the same database, the same bus identity, R3 streams: one service, two processes
        settings = [ServiceSettings.from_env(name, env=resolved(s, env)) for s in (first, second)]
        assert settings[0] == settings[1], name
        password = COMPOSE_SECRETS[f"{name.upper()}_NATS_PASSWORD"]
        assert server_urls(settings[0].nats_url) == [f"nats://{name}:{password}@{member}:4222"
                                                     for member in CLUSTER_MEMBERS], name
        assert StreamLimits.from_env(resolved(second, env)).replicas == 3
        # both replicas lease on the same TTL, the kit's default unless the operator sets it
        assert settings[0].lease_ttl_seconds == 10.0
        tuned = [ServiceSettings.from_env(name, env=resolved(s, {**env, "LEASE_TTL_SECONDS": "5"}))
                 for s in (first, second)]
        assert [s.lease_ttl_seconds for s in tuned] == [5.0, 5.0], name
        # each replica's HTTP on a host port of its own, on loopback unless told
        ports = [interpolate(s["ports"][0], env) for s in (first, second)]
        assert ports[0] != ports[1] and all(p.startswith("127.0.0.1:") for p in ports), ports
        assert second["depends_on"]["nats"]["condition"] == "service_healthy"
        # started once the first is healthy: its migrations done, two never migrate at once
        assert second["depends_on"][name]["condition"] == "service_healthy"
        assert second["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "readyz" in " ".join(second["healthcheck"]["test"])


def test_without_the_cluster_settings_every_service_speaks_to_the_one_server_with_r1_streams() -> None:
    services = compose()["services"]
    assert [interpolate(part, COMPOSE_SECRETS) for part in services["nats"]["command"]] == \
        ["-c", "/etc/nats/nats-server.conf"]
    for name in APP_SERVICES:
        env = resolved(services[name], COMPOSE_SECRETS)
        assert server_urls(ServiceSettings.from_env(name, env=env).nats_url) == [
            f"nats://{name}:{COMPOSE_SECRETS[f'{name.upper()}_NATS_PASSWORD']}@nats:4222"]
        assert StreamLimits.from_env(env).replicas == 1


def test_the_three_nats_servers_form_one_jetstream_cluster_each_with_its_name_and_store() -> None:
    services = compose()["services"]
    env = cluster_env()
    conf = (ROOT / "deploy/nats/nats-cluster.conf").read_text()
    routes = re.search(r"routes:\s*\[([^\]]*)\]", conf).group(1)
    assert {r.strip() for r in routes.split(",")} == {f"nats-route://{m}:6222" for m in CLUSTER_MEMBERS}
    assert "include ./nats-server.conf" in conf and "server_name: $NATS_SERVER_NAME" in conf
    names, stores = set(), set()
    for member in CLUSTER_MEMBERS:
        service = services[member]
        assert [interpolate(part, env) for part in service["command"]] == ["-c", "/etc/nats/nats-cluster.conf"]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        for file in ("nats-server.conf", "nats-cluster.conf", "permissions.conf"):
            assert mounts[f"/etc/nats/{file}"] == f"./deploy/nats/{file}", (member, file)
        stores.add(mounts["/data/jetstream"])
        member_env = resolved(service, env)
        names.add(member_env["NATS_SERVER_NAME"])
        assert all(f"{name.upper()}_NATS_PASSWORD" in member_env for name in ("ops", *APP_SERVICES)), member
        assert "ports" not in service and service["healthcheck"]["test"], member
    assert len(names) == len(stores) == len(CLUSTER_MEMBERS), "each member needs its own name and store"
    assert set(compose()["volumes"]) >= stores


def test_the_cluster_nats_configuration_is_valid() -> None:
    import os
    import subprocess

    from tests.infra.nats import nats_server_binary

    passwords = {f"{name.upper()}_NATS_PASSWORD": "x" for name in ("ops", *APP_SERVICES)}
    checked = subprocess.run([nats_server_binary(), "-c", str(ROOT / "deploy/nats/nats-cluster.conf"), "-t"],
                             capture_output=True, text=True, timeout=30,
                             env={**os.environ, **passwords, "NATS_SERVER_NAME": "jumelage-nats-2"})
    assert checked.returncode == 0, checked.stderr


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
        env = {k: interpolate(str(v), COMPOSE_SECRETS) for k, v in compose()["services"][name]["environment"].items()}
        settings = ServiceSettings.from_env(name, env=env)
        database = settings.database_url.rsplit("/", 1)[1]
        assert settings.database_url.startswith("postgresql+asyncpg://")
        assert f"CREATE DATABASE {database};" in init
        assert settings.nats_url == f"nats://{name}:{name}-nats-password@nats:4222"  # its own NATS user
        assert settings.host == "0.0.0.0"
        seen.add(database)
    assert len(seen) == len(APP_SERVICES)


def test_mounted_configuration_files_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_every_container_restarts_on_failure() -> None:
    for name, service in compose()["services"].items():
        restart = service.get("restart") or compose().get("x-service", {}).get("restart")
        assert restart in ("unless-stopped", "always", "on-failure"), name


def test_only_http_ports_are_published_and_on_loopback_unless_told() -> None:
    services = compose()["services"]
    assert "ports" not in services["nats"] and "ports" not in services["postgres"]  # the compose network only
    for name, service in services.items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("${JUMELAGE_BIND:-127.0.0.1}:"), (name, mapping)
            assert interpolate(mapping, {}).startswith("127.0.0.1:"), (name, mapping)


def test_every_secret_is_required_with_no_fallback_value() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "KEYCLOAK_ADMIN", "KEYCLOAK_ADMIN_PASSWORD",
               "OIDC_CLIENT_SECRET", *(f"{name.upper()}_NATS_PASSWORD" for name in ("ops", *APP_SERVICES)))
    for secret in secrets:
        uses = re.findall(r"\$\{" + secret + r"(?![A-Za-z0-9_])(:?[-?]?)", text)
        assert uses and all(use in (":?",) for use in uses), (secret, uses)
    for name in APP_SERVICES:
        environment = compose()["services"][name]["environment"]
        with pytest.raises(MissingVariable):
            {k: interpolate(str(v), {}) for k, v in environment.items()}
    # and each secret alone: leaving out any one of them stops the whole deployment
    everything = {k: interpolate(str(v), COMPOSE_SECRETS) for k, v in environment.items()}
    assert everything
    for secret in secrets:
        if secret == "GRAFANA_ADMIN_PASSWORD":
            continue  # the monitoring profile's own
        missing = {k: v for k, v in COMPOSE_SECRETS.items() if k != secret}
        with pytest.raises(MissingVariable):
            for service in compose()["services"].values():
                {k: interpolate(str(v), missing) for k, v in (service.get("environment") or {}).items()}


def test_the_identity_provider_imports_the_realm_keeps_its_database_on_postgres_and_needs_its_admin_secret() -> None:
    services = compose()["services"]
    keycloak = services["keycloak"]
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:")
    assert "--import-realm" in keycloak["command"]
    assert "./deploy/keycloak/jumelage-realm.json:/opt/keycloak/data/import/jumelage-realm.json:ro" in keycloak["volumes"]
    env = {k: interpolate(str(v), COMPOSE_SECRETS) for k, v in keycloak["environment"].items()}
    assert env["KC_DB"] == "postgres" and env["KC_DB_URL"] == "jdbc:postgresql://postgres:5432/keycloak"
    assert env["KC_DB_PASSWORD"] == COMPOSE_SECRETS["POSTGRES_PASSWORD"]
    assert env["KC_BOOTSTRAP_ADMIN_PASSWORD"] == COMPOSE_SECRETS["KEYCLOAK_ADMIN_PASSWORD"]
    assert "CREATE DATABASE keycloak;" in (ROOT / "deploy/postgres/init.sql").read_text()
    assert keycloak["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert keycloak["healthcheck"]["test"]
    assert interpolate(keycloak["ports"][0], {}).startswith("127.0.0.1:8080:")
    assert env["KC_HOSTNAME"] == "http://127.0.0.1:8080"


def test_every_service_trusts_the_identity_provider_and_speaks_on_the_bus_as_itself() -> None:
    realm = json.loads((ROOT / "deploy/keycloak/jumelage-realm.json").read_text())["realm"]
    services = compose()["services"]
    for name in APP_SERVICES:
        env = {k: interpolate(str(v), COMPOSE_SECRETS) for k, v in services[name]["environment"].items()}
        settings = ServiceSettings.from_env(name, env=env)
        assert settings.oidc_issuer == f"http://127.0.0.1:8080/realms/{realm}", name  # what Keycloak writes in iss
        assert settings.oidc_audience == "jumelage-api", name
        assert settings.oidc_discovery_url == f"http://keycloak:8080/realms/{realm}/.well-known/openid-configuration"
        assert "JWT_SECRET" not in env, name  # development tokens are refused once an issuer is set
        user, password = settings.nats_url.removeprefix("nats://").split("@")[0].split(":")
        assert (user, password) == (name, COMPOSE_SECRETS[f"{name.upper()}_NATS_PASSWORD"]), name
        assert services[name]["depends_on"]["keycloak"]["condition"] == "service_started", name


def test_reminders_go_to_the_mail_catcher_and_links_to_the_public_url() -> None:
    services = compose()["services"]
    notifications = services["notifications"]
    env = {k: interpolate(str(v), COMPOSE_SECRETS) for k, v in notifications["environment"].items()}
    settings = ServiceSettings.from_env("notifications", env=env)
    assert env["SMTP_HOST"] == "mail" and env["SMTP_PORT"] == "1025"  # Mailpit's SMTP port
    assert notifications["depends_on"]["mail"]["condition"] == "service_healthy"
    assert services["mail"]["image"].startswith("axllent/mailpit")
    for name in APP_SERVICES:
        assert "PUBLIC_URL" in services[name]["environment"], name
    assert settings.public_url == "http://127.0.0.1:8103"
    # the partnership page the e-mails link to is programmes', at programmes' public address
    from notifications.bootstrap import MailSettings

    programmes = interpolate(str(services["programmes"]["environment"]["PUBLIC_URL"]), COMPOSE_SECRETS)
    assert MailSettings.from_env(env).programmes_url == programmes
    # and the campaign page the campaign reminders link to is candidatures', at its public address
    candidatures = interpolate(str(services["candidatures"]["environment"]["PUBLIC_URL"]), COMPOSE_SECRETS)
    assert MailSettings.from_env(env).portal_url == candidatures


def test_the_monitoring_profile_scrapes_every_service_and_provisions_the_dashboard() -> None:
    services = compose()["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"] and services["grafana"]["profiles"] == ["monitoring"]
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for group in job.get("static_configs", ())
               for t in group["targets"]}
    for name in APP_SERVICES:
        port = interpolate(str(services[name]["environment"]["PORT"]), {})
        assert f"{name}:{port}" in targets, name
    datasources = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/jumelage.yml").read_text())
    mounted = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    folder = ROOT / mounted[providers["providers"][0]["options"]["path"]]
    dashboard = json.loads((folder / "jumelage.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    for wanted in ("jumelage_outbox_backlog", "jumelage_relay_stalled_seconds", "jumelage_consumer_lag",
                   'outcome="dead_lettered"', "jumelage_http_request_duration_seconds", 'status=~"5..',
                   "jumelage_reminders_total"):
        assert wanted in exprs, wanted


def relabelled(rules: list[dict], labels: dict[str, str]) -> dict[str, str]:
    """Prometheus's ``replace`` relabelling (its default action): source labels joined by ``;``,
    the anchored regex, ``$1``… in the replacement."""
    labels = dict(labels)
    for rule in rules:
        assert rule.get("action", "replace") == "replace", rule
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            labels[rule["target_label"]] = re.sub(r"\$(\d+)", lambda m: match.group(int(m.group(1))),
                                                  rule.get("replacement", "$1"))
    return labels


def test_the_monitoring_profile_scrapes_the_cluster_profiles_second_replicas_and_tolerates_their_absence() -> None:
    services = compose()["services"]
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    static = {t for job in scrape["scrape_configs"] for group in job.get("static_configs", ()) for t in group["targets"]}
    # a replica of the cluster profile is never a static target: without the profile it would be a
    # target down forever; DNS discovery finds none for a name that does not resolve
    assert not {t for t in static if t.split(":")[0] in CLUSTER_REPLICAS}, static
    discovered = {}
    for job in scrape["scrape_configs"]:
        for sd in job.get("dns_sd_configs", ()):
            assert sd["type"] == "A" and len(sd["names"]) == 1, sd
            discovered[sd["names"][0]] = (job, sd["port"])
    assert set(discovered) == set(CLUSTER_REPLICAS)
    for name in APP_SERVICES:
        job, port = discovered[f"{name}-2"]
        replica = services[f"{name}-2"]
        # the port the replica listens on inside the network (its first replica's PORT)
        listens = interpolate(str(resolved(replica, cluster_env())["PORT"]), {})
        assert (port, job.get("metrics_path", "/metrics")) == (int(listens), "/metrics"), name
        # what a discovered target becomes: the service's own label, the replica's name as instance
        labels = relabelled(job["relabel_configs"], {"__meta_dns_name": f"{name}-2",
                                                     "__address__": f"172.18.0.9:{port}"})
        assert (labels["service"], labels["instance"]) == (name, f"{name}-2:{port}"), labels


def test_the_dashboard_counts_a_store_wide_figure_once_whatever_the_number_of_replicas() -> None:
    """Each replica reads the outbox backlog and the reminders due from the service's one store, and
    a standby replica keeps the consumer lag it last saw: summed over two replicas they would double."""
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/jumelage.json").read_text())
    exprs = {t["expr"] for panel in dashboard["panels"] for t in panel["targets"]}
    for metric in ("jumelage_outbox_backlog", "jumelage_reminders_due", "jumelage_consumer_lag"):
        reading = [e for e in exprs if metric in e]
        assert reading and all(not e.startswith("sum") for e in reading), reading
    lag = next(e for e in exprs if "jumelage_consumer_lag" in e)
    assert "jumelage_consumer_active" in lag, "the lag of the active process of each durable only"


def test_every_metric_the_dashboard_reads_is_one_the_services_export() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/jumelage.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    code = " ".join(path.read_text() for path in (ROOT / "services").rglob("*.py"))
    for metric in set(re.findall(r"jumelage_[a-z_]+", exprs)):
        base = re.sub(r"_(bucket|count|sum)$", "", metric)
        # prometheus_client adds _total to a counter named without it
        assert f'"{base}"' in code or f'"{base.removesuffix("_total")}"' in code, f"{metric}: no service exports it"


def test_nats_loads_the_generated_users_and_gets_every_password() -> None:
    from eventkit.natsauth import compose_permissions

    nats = compose()["services"]["nats"]
    conf = (ROOT / "deploy/nats/nats-server.conf").read_text()
    assert "include ./permissions.conf" in conf
    assert "./deploy/nats/permissions.conf:/etc/nats/permissions.conf:ro" in nats["volumes"]
    permissions = (ROOT / "deploy/nats/permissions.conf").read_text()
    assert permissions == compose_permissions()
    for name in ("ops", *APP_SERVICES):
        variable = f"{name.upper()}_NATS_PASSWORD"
        assert f"${variable}" in permissions and variable in nats["environment"], name


def test_the_production_nats_configuration_is_valid_and_refuses_to_load_without_the_passwords() -> None:
    import os
    import subprocess

    from tests.infra.nats import nats_server_binary

    conf = str(ROOT / "deploy/nats/nats-server.conf")
    passwords = {f"{name.upper()}_NATS_PASSWORD": "x" for name in ("ops", *APP_SERVICES)}
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NATS_PASSWORD")}
    checked = subprocess.run([nats_server_binary(), "-c", conf, "-t"], capture_output=True, text=True,
                             env={**env, **passwords}, timeout=30)
    assert checked.returncode == 0, checked.stderr
    refused = subprocess.run([nats_server_binary(), "-c", conf, "-t"], capture_output=True, text=True, env=env,
                             timeout=30)
    assert refused.returncode != 0 and "NATS_PASSWORD" in refused.stderr


PAGE_SERVICES = ("candidatures", "programmes", "reporting")  # the services that serve pages to people


def _keycloak_placeholders(value: str, env: dict[str, str]) -> str:
    """What Keycloak's realm import makes of ``${VAR}`` in the realm file: the container's variable."""
    def one(match: re.Match) -> str:
        assert match.group(1) in env, f"the realm reads {match.group(1)}, which compose does not give Keycloak"
        return env[match.group(1)]

    return re.sub(r"\$\{([A-Z0-9_]+)\}", one, value)


def test_the_page_services_sign_people_in_through_the_realms_confidential_pages_client() -> None:
    """Each page-serving service holds the client id and secret; Keycloak imports the same secret
    and registers exactly those services' PUBLIC_URL/auth/callback as redirect URIs."""
    from eventkit.signin import CALLBACK_PATH

    services = compose()["services"]
    realm = json.loads((ROOT / "deploy/keycloak/jumelage-realm.json").read_text())
    [client] = [c for c in realm["clients"] if c["clientId"] == "jumelage-pages"]
    keycloak_env = {k: interpolate(str(v), COMPOSE_SECRETS) for k, v in services["keycloak"]["environment"].items()}
    callbacks = set()
    for name in APP_SERVICES:
        env = {k: interpolate(str(v), COMPOSE_SECRETS) for k, v in services[name]["environment"].items()}
        settings = ServiceSettings.from_env(name, env=env)
        if name not in PAGE_SERVICES:  # least privilege: no pages, no client secret
            assert not settings.oidc_client_id and not settings.oidc_client_secret, name
            continue
        assert settings.oidc_client_id == client["clientId"], name
        assert settings.oidc_client_secret == COMPOSE_SECRETS["OIDC_CLIENT_SECRET"], name
        assert settings.oidc_signin_scope == "openid email"
        callbacks.add(settings.public_url.rstrip("/") + CALLBACK_PATH)
    assert _keycloak_placeholders(client["secret"], keycloak_env) == COMPOSE_SECRETS["OIDC_CLIENT_SECRET"]
    assert {_keycloak_placeholders(uri, keycloak_env) for uri in client["redirectUris"]} == callbacks
    assert callbacks == {"http://127.0.0.1:8101/auth/callback", "http://127.0.0.1:8102/auth/callback",
                         "http://127.0.0.1:8104/auth/callback"}
    # a public URL moved by the operator moves the redirect URI with it
    moved = {**COMPOSE_SECRETS, "JUMELAGE_PUBLIC_URL_PROGRAMMES": "https://programmes.jumelage.example.fr"}
    keycloak_moved = {k: interpolate(str(v), moved) for k, v in services["keycloak"]["environment"].items()}
    programmes = ServiceSettings.from_env("programmes", env={
        k: interpolate(str(v), moved) for k, v in services["programmes"]["environment"].items()})
    assert programmes.public_url + CALLBACK_PATH in {_keycloak_placeholders(u, keycloak_moved)
                                                     for u in client["redirectUris"]}


def test_postgres_is_healthy_only_once_it_answers_over_tcp_and_the_image_context_is_lean() -> None:
    """The image's first initialisation runs a temporary server on the socket only: a socket check
    would call it ready before the init scripts (databases, users) have run."""
    check = " ".join(compose()["services"]["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in check and "-h 127.0.0.1" in check
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "tests", ".env"} <= set(ignored)
