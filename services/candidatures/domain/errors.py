"""Domain errors. Each carries the rule it enforces (its name is the rule) and, where the fault
lies in one input field, that field, so the HTTP layer can answer problem+json naming both."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule (HTTP 422 unless ``status`` says otherwise)."""

    status = 422

    def __init__(self, rule: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field


class NotFound(DomainError):
    """The command names an aggregate that does not exist (HTTP 404)."""

    status = 404


class StateConflict(DomainError):
    """The aggregate is in a state where the command makes no sense (HTTP 409)."""

    status = 409


def violated(rule: str, message: str, field: str | None = None) -> DomainError:
    return DomainError(rule, message, field)
