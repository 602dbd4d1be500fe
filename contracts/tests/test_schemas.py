"""The committed JSON Schemas and examples stay true to the models.

When one of these fails after a model change: run ``python -m jumelage_contracts.generate``,
review the diff of ``schemas/`` and commit it. Raising a version means a new schema file, a new
example and an upcaster; the old schema and example stay, and must still read as the new model.
"""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from jumelage_contracts import generate
from jumelage_contracts.envelope import Envelope
from jumelage_contracts.registry import EVENTS, load_all, parse_payload

PACKAGE = generate.PACKAGE_DIR
SCHEMAS = PACKAGE / generate.SCHEMAS_DIR
EXAMPLES = PACKAGE / generate.EXAMPLES_DIR
FIX = f"run `{generate.REGENERATE}` and commit the result"

CURRENT = sorted(load_all().items())
RENDERED = generate.render_schemas()
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))


def validator_for(schema_file: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_file.read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def load_example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text("utf-8"))


def test_at_least_the_envelope_and_some_events_are_generated():
    assert generate.ENVELOPE_SCHEMA in RENDERED
    assert len(RENDERED) == len(EVENTS) + 1


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_the_committed_schema_matches_the_code(name):
    committed = SCHEMAS / name
    assert committed.exists(), f"schemas/{name} is missing: {FIX}"
    assert committed.read_text("utf-8") == RENDERED[name], f"schemas/{name} drifted from the model: {FIX}"


def test_no_committed_schema_belongs_to_an_unregistered_event_or_a_future_version():
    stale = generate.stale_schema_files([p.name for p in SCHEMAS.glob("*.json")])
    assert stale == [], f"stale schema files {stale}: {FIX}"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_committed_schema_is_a_valid_draft_2020_12_schema(name):
    validator_for(SCHEMAS / name)


@pytest.mark.parametrize("event_type,model", CURRENT, ids=[name for name, _ in CURRENT])
def test_every_event_has_an_example_valid_against_its_schema_and_its_model(event_type, model):
    filename = generate.schema_filename(event_type, model.VERSION)
    assert (EXAMPLES / filename).exists(), f"examples/{filename} is missing: write one payload of this event"
    example = load_example(filename)
    errors = sorted(validator_for(SCHEMAS / filename).iter_errors(example), key=str)
    assert errors == [], f"examples/{filename} does not validate against schemas/{filename}: {errors[0].message}"
    parsed = model.model_validate(example)
    assert parsed.type == event_type
    # The example must survive the producer's own serialisation unchanged in meaning.
    assert model.model_validate(parsed.model_dump(mode="json")) == parsed


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_every_example_has_a_committed_schema_and_reads_as_the_current_model(name):
    match = generate.SCHEMA_FILE_RE.match(name)
    assert match, f"examples/{name} is not named <Type>.v<N>.json"
    assert (SCHEMAS / name).exists(), f"examples/{name} has no schemas/{name}"
    errors = list(validator_for(SCHEMAS / name).iter_errors(load_example(name)))
    assert errors == [], f"examples/{name}: {errors[0].message}"
    # Old versions go through the upcasters: an example of v1 is a stored payload of v1.
    event = parse_payload(match["type"], int(match["version"]), load_example(name))
    assert event.event_type() == match["type"]


def test_the_schema_check_bites_when_an_example_loses_a_required_field():
    checked = 0
    for event_type, model in CURRENT:
        filename = generate.schema_filename(event_type, model.VERSION)
        schema = json.loads((SCHEMAS / filename).read_text("utf-8"))
        required = [f for f in schema.get("required", []) if f != "type"]
        if not required or not (EXAMPLES / filename).exists():
            continue
        broken = copy.deepcopy(load_example(filename))
        broken.pop(required[0], None)
        assert list(validator_for(SCHEMAS / filename).iter_errors(broken)), f"{filename} accepted a payload without {required[0]}"
        checked += 1
    assert checked > 0


def test_the_envelope_schema_accepts_a_serialised_envelope():
    import uuid
    from datetime import datetime, timezone

    env = Envelope(type="CampaignOpened", source="candidatures", stream_id="campaign-1",
                   occurred_at=datetime(2025, 9, 1, tzinfo=timezone.utc), correlation_id=uuid.uuid4(),
                   academie="paris", data={"a": 1})
    validator = validator_for(SCHEMAS / generate.ENVELOPE_SCHEMA)
    assert list(validator.iter_errors(env.model_dump(mode="json"))) == []
    assert list(validator.iter_errors({**env.model_dump(mode="json"), "academie": "Not A Token"}))


def test_drift_is_detected_and_repaired_by_the_generator(tmp_path):
    assert generate.write(tmp_path)  # fresh directory: everything is written
    assert generate.check(tmp_path) == []
    some = tmp_path / generate.SCHEMAS_DIR / sorted(RENDERED)[0]
    some.write_text(some.read_text("utf-8").replace('"title"', '"tytle"', 1), "utf-8")
    (tmp_path / generate.SCHEMAS_DIR / "Ghost.v1.json").write_text("{}\n", "utf-8")
    problems = generate.check(tmp_path)
    assert any("differs" in p for p in problems) and any("Ghost.v1.json" in p for p in problems)
    assert generate.main(["--check", "--dir", str(tmp_path)]) == 1
    generate.write(tmp_path)
    assert generate.check(tmp_path) == []
    assert not (tmp_path / generate.SCHEMAS_DIR / "Ghost.v1.json").exists()


def test_generation_is_deterministic():
    assert generate.render_schemas() == RENDERED
    assert generate.render_asyncapi() == generate.render_asyncapi()
    assert all(text.endswith("}\n") for text in RENDERED.values())


@pytest.mark.parametrize("event_type,model", CURRENT, ids=[name for name, _ in CURRENT])
def test_every_example_travels_through_an_envelope_on_nats_and_reads_back_equal(event_type, model):
    import uuid
    from datetime import datetime, timezone

    from jumelage_contracts.registry import parse_event, to_envelope

    filename = generate.schema_filename(event_type, model.VERSION)
    if not (EXAMPLES / filename).exists():
        pytest.fail(f"examples/{filename} is missing")
    event = model.model_validate(load_example(filename))
    env = to_envelope(event, stream_id="s-1", occurred_at=datetime(2025, 9, 1, tzinfo=timezone.utc),
                      correlation_id=uuid.uuid4(), academie="paris")
    assert (env.type, env.source, env.schema_version) == (event_type, model.SOURCE, model.VERSION)
    back = Envelope.from_nats(*env.to_nats())
    assert parse_event(back) == event


def test_the_documented_check_command_passes_on_the_committed_tree():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "jumelage_contracts.generate", "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
