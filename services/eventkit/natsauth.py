"""Who may say what on the bus: one NATS user per service, an ``ops`` user, no anonymous access.

Each service may publish only its own events (``<root>.<service>.>``), its dead letters, and the
JetStream API calls it makes: streams (provisioned at start), and consumers, fetches and acks on
the streams it reads and nowhere else. It may subscribe only to its own inbox replies. So a
service cannot forge another's event (the server answers a permission violation and JetStream
stores nothing), and a process without credentials cannot connect at all. ``ops`` (the operator
CLI: provision, republish, dead letters) may do everything.

Users authenticate with a password rather than an nkey: nats-py takes a password in the URL
(``nats://programmes:…@host:4222``), so the one ``NATS_URL`` / ``<SERVICE>_NATS_URL`` setting
carries it in every deployment, and compose's NATS reads the passwords from the environment like
every other secret. An nkey needs a seed file per service and nothing more would be refused.

The same rules serve the embedded runner (which generates passwords under its data folder),
compose (``deploy/nats/permissions.conf`` is generated from here: ``python -m eventkit.natsauth``)
and the tests that start a server of their own.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from jumelage_contracts.subjects import DEFAULT_ROOT, SOURCES, dead_letter_stream, dead_letter_subject, stream_name

OPS_USER = "ops"
# Each service's durable consumers and the source each reads; tests/unit/eventkit/test_natsauth.py
# checks it against every service's bootstrap, so a new consumer without its permission fails there.
CONSUMERS: dict[str, dict[str, str]] = {
    "candidatures": {"candidatures-from-programmes": "programmes",
                     "candidatures-places-from-programmes": "programmes"},
    "programmes": {"programmes-from-candidatures": "candidatures",
                   "programmes-from-notifications": "notifications"},
    "notifications": {"notifications-from-candidatures": "candidatures",
                      "notifications-from-programmes": "programmes"},
    "reporting": {"reporting-candidatures": "candidatures", "reporting-programmes": "programmes",
                  "reporting-notifications": "notifications"},
}


def service_permissions(service: str, root: str = DEFAULT_ROOT) -> dict[str, dict[str, list[str]]]:
    streams = [stream_name(source, root) for source in SOURCES] + [dead_letter_stream(root)]
    consumers = CONSUMERS.get(service, {})
    read = sorted({stream_name(source, root) for source in consumers.values()})
    publish = [
        f"{root}.{service}.>",                       # its own events (the relay)
        *(dead_letter_subject(name, root) for name in consumers),  # its consumers' dead letters
        "$JS.API.INFO",
        *(f"$JS.API.STREAM.{verb}.{name}" for name in streams for verb in ("INFO", "CREATE", "UPDATE")),
        "$JS.API.STREAM.NAMES",
    ]
    for name in read:
        publish += [
            f"$JS.API.CONSUMER.*.{name}",            # CREATE (ephemeral), NAMES, LIST
            f"$JS.API.CONSUMER.*.{name}.>",          # CREATE/INFO/DELETE of a named consumer
            f"$JS.API.CONSUMER.*.*.{name}.>",        # MSG.NEXT (fetch), DURABLE.CREATE
            f"$JS.ACK.{name}.>",                     # acks, naks, in-progress of its deliveries
        ]
    publish.append("$JS.FC.>")  # flow-control replies of an ordered consumer (reporting's rebuild)
    # personal data keys (eventkit.shredding): asked of the owners it reads, answered for its own
    publish += sorted({f"{root}.keys.{source}" for source in consumers.values()})
    return {"publish": {"allow": publish}, "subscribe": {"allow": ["_INBOX.>", f"{root}.keys.{service}"]},
            "allow_responses": True}


def users(passwords: Mapping[str, str], root: str = DEFAULT_ROOT) -> list[dict]:
    listed = [{"user": OPS_USER, "password": passwords[OPS_USER]}]
    for service in SOURCES:
        listed.append({"user": service, "password": passwords[service],
                       "permissions": service_permissions(service, root)})
    return listed


def authorization_block(passwords: Mapping[str, str], root: str = DEFAULT_ROOT) -> str:
    """The ``authorization { users: […] }`` part of a nats-server configuration (JSON is valid
    NATS configuration syntax)."""
    return "authorization " + json.dumps({"users": users(passwords, root)}, indent=2) + "\n"


def generate_passwords() -> dict[str, str]:
    return {name: secrets.token_urlsafe(24) for name in (OPS_USER, *SOURCES)}


def load_or_create_passwords(path: Path) -> dict[str, str]:
    """The embedded runner's credentials, kept (mode 0600) beside its data so that a restart
    finds the same ones; made once on first use."""
    try:
        found = json.loads(path.read_text())
        if all(isinstance(found.get(name), str) for name in (OPS_USER, *SOURCES)):
            return found
    except (OSError, ValueError):
        pass
    made = generate_passwords()
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text(json.dumps(made))
    return made


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user``/``password`` in it; each server of a comma-separated cluster list."""
    if "," in url:
        return ",".join(with_credentials(part.strip(), user, password) for part in url.split(",") if part.strip())
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def compose_permissions(root: str = DEFAULT_ROOT) -> str:
    """``deploy/nats/permissions.conf``: the users read their passwords from the environment."""
    placeholders = {name: f"${name.upper()}_NATS_PASSWORD" for name in (OPS_USER, *SOURCES)}
    text = authorization_block(placeholders, root)
    for name, variable in placeholders.items():  # NATS expands $VAR only unquoted
        text = text.replace(json.dumps(variable), variable)
    header = ("# Generated by `python -m eventkit.natsauth` from services/eventkit/natsauth.py — do not edit;\n"
              "# tests/unit/eventkit/test_natsauth.py fails when it drifts. Passwords come from the environment.\n")
    return header + text


if __name__ == "__main__":
    sys.stdout.write(compose_permissions(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_ROOT))
