"""Pure deciders of a partnership: ``decide(command, state) -> events`` and ``evolve``."""

from .partnership import decide, evolve, fold, initial_state

__all__ = ["decide", "evolve", "fold", "initial_state"]
