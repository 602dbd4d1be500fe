"""The consumer's rules without a server: which errors are an outage (they never use up a
message's attempts) and how a dead letter is made to fit ``max_payload``. The behaviour against
real PostgreSQL and NATS is in ``tests/integration/eventkit/test_consumer_faults.py``."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import asyncpg.exceptions as pg
from sqlalchemy.exc import DBAPIError, IntegrityError, InternalError

from eventkit.bus.consumer import (
    Consumer,
    DeadLetterHeader,
    encoded_headers_size,
    is_infrastructure_error,
    server_headers,
)
from eventkit.runtime import ConsumerSpec


def wrapped(cls, cause: BaseException, **kw) -> BaseException:
    """What SQLAlchemy raises: its error, ``orig`` the driver's adapted error, caused by asyncpg's."""
    orig = Exception(str(cause))
    orig.__cause__ = cause
    return cls("select 1", {}, orig, **kw)


def test_a_lost_or_refused_database_connection_is_an_outage():
    assert is_infrastructure_error(wrapped(DBAPIError, pg.ConnectionDoesNotExistError("connection was closed")))
    assert is_infrastructure_error(wrapped(InternalError, pg.AdminShutdownError("terminating connection")))
    assert is_infrastructure_error(wrapped(DBAPIError, pg.CannotConnectNowError("starting up")))
    assert is_infrastructure_error(wrapped(DBAPIError, pg.InterfaceError("connection is closed")))
    assert is_infrastructure_error(wrapped(DBAPIError, ValueError("?"), connection_invalidated=True))
    assert is_infrastructure_error(ConnectionRefusedError())


def test_a_handler_bug_or_a_constraint_violation_is_not_an_outage():
    assert not is_infrastructure_error(wrapped(IntegrityError, pg.UniqueViolationError("duplicate key")))
    assert not is_infrastructure_error(ValueError("bad campaign"))
    try:  # an error raised while handling a lost connection is the handler's own
        try:
            raise ConnectionResetError()
        except ConnectionResetError:
            raise KeyError("campaign")
    except KeyError as exc:
        assert not is_infrastructure_error(exc)


def test_server_headers_are_not_copied_but_the_others_are():
    assert server_headers({"Nats-Expected-Stream": "S", "Nats-Msg-Id": "1", "NATS-Rollup": "sub",
                           "Jumelage-Type": "CampaignClosed"}) == {"Jumelage-Type": "CampaignClosed"}


def consumer(max_payload: int) -> Consumer:
    spec = ConsumerSpec(name="reporting-x", source="candidatures", handler=None)
    return Consumer(spec, None, SimpleNamespace(nc=SimpleNamespace(max_payload=max_payload)), subject_root="j")


def test_a_dead_letter_that_fits_is_kept_whole():
    headers, body = consumer(1024 * 1024)._fit_dead_letter({"A": "b"}, {"A": "b"}, b"x" * 1000)
    assert body == b"x" * 1000 and DeadLetterHeader.TRUNCATED not in headers


def test_a_dead_letter_over_max_payload_keeps_a_kib_and_the_reference():
    body = b"y" * 5000
    about = {DeadLetterHeader.ORIGINAL_STREAM: "S", DeadLetterHeader.STREAM_SEQUENCE: "9"}
    headers, kept = consumer(4096)._fit_dead_letter({**about, "Jumelage-Type": "T"}, about, body)
    assert kept == body[:1024]
    assert headers[DeadLetterHeader.ORIGINAL_SIZE] == "5000"
    assert headers[DeadLetterHeader.ORIGINAL_SHA256] == hashlib.sha256(body).hexdigest()
    assert headers["Jumelage-Type"] == "T"
    assert encoded_headers_size(headers) + len(kept) <= 4096


def test_original_headers_too_large_to_fit_are_left_out_of_the_dead_letter():
    about = {DeadLetterHeader.ORIGINAL_STREAM: "S", DeadLetterHeader.STREAM_SEQUENCE: "9"}
    headers, kept = consumer(4096)._fit_dead_letter({**about, "Huge": "z" * 5000}, about, b"small")
    assert "Huge" not in headers and headers[DeadLetterHeader.STREAM_SEQUENCE] == "9"
    assert headers[DeadLetterHeader.TRUNCATED] == "true"
    assert encoded_headers_size(headers) + len(kept) <= 4096
