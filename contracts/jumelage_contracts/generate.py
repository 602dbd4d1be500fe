"""Regenerate the checked-in artefacts derived from the models.

    python -m jumelage_contracts.generate          # write schemas/ and asyncapi.yaml
    python -m jumelage_contracts.generate --check  # exit 1 if they differ from the code

Outputs (all inside the package, so they ship with it):

- ``schemas/<Type>.v<N>.json``: the JSON Schema (draft 2020-12) of every registered event at its
  current version, ``schemas/envelope.json`` for the envelope. Schemas of older versions are kept:
  they describe payloads still in the stores, which the upcasters read.
- ``asyncapi.yaml``: an AsyncAPI 3.0 document, one channel per event subject pattern, whose
  message payloads reference the schema files.

Output is deterministic (sorted keys, fixed layout, trailing newline) so the tests can compare the
committed files with a fresh rendering and fail on drift.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from .envelope import Envelope, Header
from .reference import Academie
from .registry import EVENTS, EventData, load_all
from .subjects import DEFAULT_ROOT, NATIONAL, SOURCES, service_filter, stream_name

PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = "schemas"
EXAMPLES_DIR = "examples"
ASYNCAPI_FILE = "asyncapi.yaml"
ENVELOPE_SCHEMA = "envelope.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE_RE = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.json$")
REGENERATE = "python -m jumelage_contracts.generate"


def schema_filename(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def dump_json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def event_schema(model: type[EventData]) -> dict[str, Any]:
    """The JSON Schema of an event model, labelled with its type, version and source."""
    schema = model.model_json_schema()
    name = model.event_type()
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"urn:jumelage:event:{name}:v{model.VERSION}"
    schema["x-event-type"] = name
    schema["x-schema-version"] = model.VERSION
    schema["x-source"] = model.SOURCE
    return schema


def envelope_schema() -> dict[str, Any]:
    schema = Envelope.model_json_schema()
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = "urn:jumelage:envelope"
    return schema


def render_schemas() -> dict[str, str]:
    """File name (inside ``schemas/``) → content, for every current event and the envelope."""
    events = load_all()
    files = {
        schema_filename(name, model.VERSION): dump_json(event_schema(model))
        for name, model in sorted(events.items())
    }
    files[ENVELOPE_SCHEMA] = dump_json(envelope_schema())
    return files


def stale_schema_files(existing: list[str]) -> list[str]:
    """Schema files that no registered event accounts for: an unknown type, or a version newer
    than the model (older versions are history and stay)."""
    stale = []
    for name in existing:
        if name == ENVELOPE_SCHEMA:
            continue
        match = SCHEMA_FILE_RE.match(name)
        if not match:
            stale.append(name)
            continue
        model = EVENTS.get(match["type"])
        if model is None or int(match["version"]) > model.VERSION:
            stale.append(name)
    return sorted(stale)


# -- AsyncAPI ---------------------------------------------------------------------------------


def _description(model: type[EventData]) -> str:
    doc = inspect.getdoc(model) or ""
    # Pydantic's base docstring is not a description of the event.
    return "" if doc == inspect.getdoc(EventData) else doc


def _headers_schema() -> dict[str, Any]:
    required = [Header.MSG_ID, Header.TYPE, Header.SOURCE, Header.STREAM_ID, Header.OCCURRED_AT,
                Header.CORRELATION_ID]
    described = {
        Header.MSG_ID: "Event id (UUID); JetStream deduplicates on it",
        Header.TYPE: "Event type, also the last subject token",
        Header.SCHEMA_VERSION: "Schema version the body was written at (an integer)",
        Header.SOURCE: "Producing service",
        Header.STREAM_ID: "Aggregate stream the event belongs to",
        Header.STREAM_VERSION: "Version of the stream after this event",
        Header.OCCURRED_AT: "When it happened (RFC 3339, with offset)",
        Header.RECORDED_AT: "When the store recorded it (RFC 3339, with offset)",
        Header.CORRELATION_ID: "Correlation id (UUID) shared by everything one request caused",
        Header.CAUSATION_ID: "Id of the event or command that caused this one (UUID)",
        Header.ACTOR_ROLE: "Role of who caused it",
        Header.ACTOR_ID: "Id of who caused it within the role (UAI, partner id, user, service)",
        Header.ACADEMIE: "Académie slug, absent for national events",
        Header.POSITION: "Position in the producing store's global log",
    }
    return {
        "type": "object",
        "required": required,
        "properties": {name: {"type": "string", "description": text} for name, text in described.items()},
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 description of every event on the bus, from the registry."""
    events = load_all()
    ordered = sorted(events.items(), key=lambda item: (item[1].SOURCE, item[0]))
    academie_values = sorted(a.value for a in Academie) + [NATIONAL]
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, model in ordered:
        channels[name] = {
            "address": f"{DEFAULT_ROOT}.{model.SOURCE}.{{academie}}.{name}",
            "title": f"{name} events from {model.SOURCE}",
            "parameters": {"academie": {"$ref": "#/components/parameters/academie"}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"{model.SOURCE} publishes {name} (stream {stream_name(model.SOURCE)})",
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
        message: dict[str, Any] = {
            "name": name,
            "title": name,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/EnvelopeHeaders"},
            "payload": {"$ref": f"./{SCHEMAS_DIR}/{schema_filename(name, model.VERSION)}"},
            "correlationId": {"location": f"$message.header#/{Header.CORRELATION_ID}"},
            "x-schema-version": model.VERSION,
            "x-source": model.SOURCE,
        }
        description = _description(model)
        if description:
            message["description"] = description
        messages[name] = message
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Jumelage events",
            "version": "1.0.0",
            "description": (
                "Events published by the Jumelage services on NATS JetStream. Subjects are "
                f"`<root>.<source>.<academie|{NATIONAL}>.<Type>` with root `{DEFAULT_ROOT}` in "
                "production; each producing service has one stream capturing "
                f"`<root>.<source>.>` ({', '.join(stream_name(s) for s in SOURCES)}). "
                "The envelope rides in headers, the event payload is the JSON body. "
                f"Generated by `{REGENERATE}`; do not edit."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:4222", "protocol": "nats", "description": "Embedded nats-server"},
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "parameters": {
                "academie": {
                    "description": f"Académie slug, or `{NATIONAL}` for events not tied to one",
                    "enum": academie_values,
                },
            },
            "schemas": {
                "EnvelopeHeaders": _headers_schema(),
                "Envelope": {"$ref": f"./{SCHEMAS_DIR}/{ENVELOPE_SCHEMA}"},
            },
            "messages": messages,
            "x-stream-subjects": {s: service_filter(s) for s in SOURCES},
        },
    }


def render_asyncapi() -> str:
    return yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True, width=100)


# -- writing and checking ---------------------------------------------------------------------


def write(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Write every artefact under ``package_dir``; the relative paths that changed or went."""
    changed: list[str] = []
    schemas = package_dir / SCHEMAS_DIR
    schemas.mkdir(parents=True, exist_ok=True)
    for name, text in render_schemas().items():
        path = schemas / name
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
            changed.append(f"{SCHEMAS_DIR}/{name}")
    for name in stale_schema_files([p.name for p in schemas.glob("*.json")]):
        (schemas / name).unlink()
        changed.append(f"{SCHEMAS_DIR}/{name} (removed)")
    asyncapi = package_dir / ASYNCAPI_FILE
    text = render_asyncapi()
    if not asyncapi.exists() or asyncapi.read_text("utf-8") != text:
        asyncapi.write_text(text, "utf-8")
        changed.append(ASYNCAPI_FILE)
    return changed


def check(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Differences between the committed artefacts and the code (empty when in sync)."""
    problems: list[str] = []
    schemas = package_dir / SCHEMAS_DIR
    for name, text in render_schemas().items():
        path = schemas / name
        if not path.exists():
            problems.append(f"{SCHEMAS_DIR}/{name} is missing")
        elif path.read_text("utf-8") != text:
            problems.append(f"{SCHEMAS_DIR}/{name} differs from the model")
    existing = [p.name for p in schemas.glob("*.json")] if schemas.is_dir() else []
    problems += [f"{SCHEMAS_DIR}/{name} belongs to no registered event" for name in stale_schema_files(existing)]
    asyncapi = package_dir / ASYNCAPI_FILE
    if not asyncapi.exists():
        problems.append(f"{ASYNCAPI_FILE} is missing")
    elif asyncapi.read_text("utf-8") != render_asyncapi():
        problems.append(f"{ASYNCAPI_FILE} differs from the registry")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    parser.add_argument("--dir", type=Path, default=PACKAGE_DIR, help="package directory to write into")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"run `{REGENERATE}` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    changed = write(args.dir)
    print("\n".join(changed) if changed else "schemas and asyncapi.yaml already up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
