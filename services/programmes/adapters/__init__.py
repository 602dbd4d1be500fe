"""Adapters: the partnership directory (read table) and the persisted snapshots of partnership
streams (``prog_snapshots``), with their migrations."""
