"""Application layer: load → decide → append, access rules, consumers' policies, views."""
