"""structlog JSON logs carrying the correlation id of the request or message being handled.

Logs never carry personal data (issue 16): :func:`mask_personal` is the last processor before
the renderer, so it sees every line of every service, traceback included. It masks the value of
any key declared personal in the contracts (``name``, ``email``, ``phone``, ``signed_by``…, at
any depth of a logged dict or list) and, in every other text, e-mail addresses, phone numbers
and the input a pydantic validation error repeats (a poison payload's fields). Records of the
standard ``logging`` module (libraries) pass :class:`ScrubPersonal` on the root handlers: their
text is scrubbed the same way (no keys there)."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

__all__ = ["configure_logging", "bind_contextvars", "clear_contextvars", "get_logger", "mask_personal", "scrub",
           "ScrubPersonal"]

MASKED = "[personal]"
PATTERN_ONLY_KEYS = frozenset({"error"})
"""Keys declared personal somewhere (``ReminderFailed.error`` may quote a recipient's address)
that every service also logs for operators: their values are kept, with the patterns masked."""

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# French numbers (0X or +33 X, then four pairs, separated or not) and international ones with a
# leading +; never inside a longer word, id or number (positions, sequences, UAIs stay readable).
_PHONE = re.compile(r"(?<![\w+-])(?:(?:\+33[\s.-]?|0)[1-9](?:[\s.-]?\d{2}){4}|\+[1-9]\d{0,2}(?:[\s.-]?\d){7,13})(?![\w-])")
# pydantic's message repeats the rejected input: "[type=..., input_value={...}, input_type=dict]",
# possibly cut short by the caller.
_PYDANTIC_INPUT = re.compile(r"input_value=.*?(?=, input_type=|\Z)", re.DOTALL)


def _personal_keys() -> frozenset[str]:
    from jumelage_contracts.personal import personal_field_names

    return personal_field_names() - PATTERN_ONLY_KEYS


def scrub(text: str) -> str:
    """``text`` with e-mail addresses, phone numbers and validation inputs masked."""
    text = _PYDANTIC_INPUT.sub("input_value=[input]", text)
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def _mask(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: MASKED if k in keys and v is not None else _mask(v, keys) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask(v, keys) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(repr(value))  # what the JSON renderer would write for it


def mask_personal(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: no value under a personal key, no address or phone in any text."""
    return _mask(event_dict, _personal_keys())


class ScrubPersonal(logging.Filter):
    """stdlib logging filter (libraries: uvicorn, SQLAlchemy, nats…, whose messages may quote a
    statement's parameters or a peer's answer): the message and traceback are scrubbed as
    :func:`scrub` does; every record still goes out."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a library's bad format string: keep the record, unformatted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    processors = [
        merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        mask_personal,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubPersonal) for f in handler.filters):
            handler.addFilter(ScrubPersonal())


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
