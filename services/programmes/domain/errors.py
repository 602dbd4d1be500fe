"""Domain errors: each names the rule it enforces (``rule``) and, where one input is to blame,
the field (``field``). The HTTP layer turns them into problem+json (422 unless ``status`` says)."""

from __future__ import annotations


class DomainError(Exception):
    status = 422

    def __init__(self, message: str, *, rule: str, field: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field


class RuleViolated(DomainError):
    """A business rule refuses the command (422)."""


class NotFound(DomainError):
    """The command names something the partnership does not have (404)."""

    status = 404


class Conflict(DomainError):
    """The command contradicts what was already decided with the same id (409)."""

    status = 409
