"""Logs never carry personal fields (issue 16): what a service logs through the kit's real
configuration (``configure_logging``, JSON to stdout) holds no name, e-mail or phone of a
referent — neither under a key declared personal in the contracts, nor inside a value (an error
text quoting an address, a validation error echoing its input, a traceback)."""

from __future__ import annotations

import io
import json
import smtplib
import sys

import pytest
import structlog
from pydantic import ValidationError

from eventkit.logging import configure_logging, get_logger

NAME, EMAIL, PHONE = "Jeanne Dupont-Marchal", "jeanne.dupont@ac-paris.fr", "06 12 34 56 78"
PERSON = (NAME, EMAIL, PHONE, "Dupont-Marchal", "jeanne.dupont", "0612345678", "12 34 56 78")


@pytest.fixture
def logs(monkeypatch):
    """The lines the real configuration writes to stdout (captured), parsed; the previous
    configuration restored afterwards."""
    saved = structlog.get_config()
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    configure_logging("programmes", "DEBUG", json=True)

    def lines() -> list[dict]:
        out, _ = stdout.getvalue(), stdout.truncate(0)
        stdout.seek(0)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    yield lines
    structlog.configure(**saved)


def assert_no_person(lines: list[dict]) -> None:
    text = json.dumps(lines, ensure_ascii=False)
    leaked = [p for p in PERSON if p in text]
    assert leaked == [], f"personal data in the logs: {leaked}\n{text}"


def a_referent_payload(**change) -> dict:
    return {"type": "ReferentDesignated", "partnership_id": "p-1", "school_year": "2025-2026", "year_index": 1,
            "referent_id": "ref-1", "side": "school", "role": "teacher", "name": NAME, "email": EMAIL,
            "phone": PHONE, **change}


def test_values_under_personal_keys_are_masked_and_the_rest_is_kept(logs):
    log = get_logger("test")
    log.info("referent_designated", partnership_id="p-1", name=NAME, email=EMAIL, phone=PHONE, signed_by=NAME,
             attendees=[NAME, "Paul Martin"], data=a_referent_payload(), body={"referent": {"name": NAME}})
    [line] = logs()
    assert_no_person([line])
    assert line["event"] == "referent_designated" and line["partnership_id"] == "p-1"
    assert line["service"] == "programmes" and line["level"] == "info"
    assert line["name"] == line["email"] == line["phone"] == line["attendees"] == "[personal]"
    assert line["data"]["referent_id"] == "ref-1" and line["data"]["name"] == "[personal]"
    assert line["body"]["referent"]["name"] == "[personal]"


def test_an_error_quoting_an_address_loses_the_address_not_the_error(logs):
    refused = smtplib.SMTPRecipientsRefused({EMAIL: (550, b"5.1.1 mailbox unavailable")})
    get_logger("test").warning("reminder_failed", reminder_id="rem-1", error=f"{type(refused).__name__}: {refused}")
    [line] = logs()
    assert_no_person([line])
    assert line["error"].startswith("SMTPRecipientsRefused: {'[email]': (550")
    assert line["reminder_id"] == "rem-1"


def test_a_validation_error_does_not_echo_the_payload(logs):
    from jumelage_contracts import parse_payload

    with pytest.raises(ValidationError) as caught:  # a phone too long: pydantic repeats the input
        parse_payload("ReferentDesignated", 1, a_referent_payload(phone=f"{PHONE} (portable de {NAME})" * 3,
                                                                   role="nobody"))
    log = get_logger("test")
    log.error("consumer_dead_lettered", consumer="notifications", error=str(caught.value)[:500])
    log.warning("consumer_handler_failed", consumer="notifications", error=repr(caught.value))
    lines = logs()
    assert_no_person(lines)
    assert "ReferentDesignated" in lines[0]["error"] and "[input]" in lines[0]["error"]


def test_a_traceback_is_scrubbed_too(logs):
    try:
        raise ValueError(f"no mailbox for {NAME} <{EMAIL}>, call {PHONE} or +33 6 12 34 56 78")
    except ValueError:
        get_logger("test").exception("request_failed", path="/programmes/p-1/referents")
    [line] = logs()
    assert "ValueError" in line["exception"] and "[email]" in line["exception"]
    assert EMAIL not in line["exception"] and PHONE not in line["exception"] and "+33 6" not in line["exception"]


def test_ids_dates_and_counts_are_not_taken_for_phones(logs):
    get_logger("test").info("consumer_rewound", consumer="reporting", position=612345678, seq=1234567890,
                            at="2026-06-12T10:15:00+02:00", event_id="0612345678-aa", uai="0751234A")
    [line] = logs()
    assert (line["position"], line["seq"], line["at"], line["event_id"], line["uai"]) == (
        612345678, 1234567890, "2026-06-12T10:15:00+02:00", "0612345678-aa", "0751234A")


def test_library_records_through_the_standard_logging_are_scrubbed(monkeypatch):
    import logging

    saved = structlog.get_config()
    stderr = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stderr)])  # as basicConfig would install
    try:
        configure_logging("notifications", "INFO")
        configure_logging("notifications", "INFO")  # twice: one filter
        try:
            raise RuntimeError(f"duplicate key (email)=({EMAIL})")
        except RuntimeError:
            logging.getLogger("sqlalchemy.engine").error("insert failed for %s, phone %s", EMAIL, PHONE, exc_info=True)
    finally:
        structlog.configure(**saved)
    out = stderr.getvalue()
    assert "insert failed for [email], phone [phone]" in out and "RuntimeError: duplicate key" in out
    assert EMAIL not in out and PHONE not in out
    assert len(root.handlers[0].filters) == 1
