"""The AsyncAPI document is generated from the registry and the subject scheme, and kept in sync."""

import yaml

from jumelage_contracts import generate
from jumelage_contracts.reference import Academie
from jumelage_contracts.registry import load_all
from jumelage_contracts.subjects import NATIONAL, subject_for

COMMITTED = generate.PACKAGE_DIR / generate.ASYNCAPI_FILE
DOC = yaml.safe_load(COMMITTED.read_text("utf-8"))


def resolve(ref: str):
    """Follow a local ``#/a/b`` pointer, or check a ``./file`` reference exists."""
    if ref.startswith("./"):
        path = generate.PACKAGE_DIR / ref[2:]
        assert path.exists(), f"{ref} points at a missing file"
        return path
    assert ref.startswith("#/"), ref
    node = DOC
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def all_refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_refs(item)


def test_the_committed_asyncapi_document_matches_the_registry():
    assert COMMITTED.read_text("utf-8") == generate.render_asyncapi(), (
        f"asyncapi.yaml drifted: run `{generate.REGENERATE}` and commit the result"
    )


def test_it_is_an_asyncapi_3_document_with_a_nats_server():
    assert DOC["asyncapi"] == "3.0.0"
    assert {s["protocol"] for s in DOC["servers"].values()} == {"nats"}


def test_every_registered_event_has_a_channel_on_its_subject_and_a_send_operation():
    events = load_all()
    assert set(DOC["channels"]) == set(events)
    for name, model in events.items():
        address = DOC["channels"][name]["address"]
        assert address.replace("{academie}", "paris") == subject_for(model.SOURCE, name, "paris")
        operation = DOC["operations"][f"publish{name}"]
        assert operation["action"] == "send" and resolve(operation["channel"]["$ref"]) is DOC["channels"][name]
        payload = resolve(DOC["components"]["messages"][name]["payload"]["$ref"])
        assert payload.name == generate.schema_filename(name, model.VERSION)


def test_every_reference_in_the_document_resolves():
    refs = list(all_refs(DOC))
    assert len(refs) > 4 * len(DOC["channels"])
    for ref in refs:
        resolve(ref)


def test_the_academie_parameter_lists_every_academie_and_national():
    values = set(DOC["components"]["parameters"]["academie"]["enum"])
    assert values == {a.value for a in Academie} | {NATIONAL}
