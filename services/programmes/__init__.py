"""Programmes service: one partnership across its school years (referents, convention, meetings,
per-class actions, bilan, plan mercredi and CNR steps)."""
