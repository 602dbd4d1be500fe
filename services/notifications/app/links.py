"""Where a person is sent from an e-mail or a calendar entry: the partnership's HTML page that the
programmes service serves (under the same scopes as its API), at its public address; for a
candidature not (or not yet) a partnership, the candidature at the candidatures service's
public address (``NOTIFICATIONS_PORTAL_URL``), as campaign links are."""

from __future__ import annotations

from urllib.parse import quote


def partnership_page(programmes_url: str, partnership_id: str) -> str:
    return f"{programmes_url.rstrip('/')}/partnerships/{quote(partnership_id, safe='')}/page"


def candidature_page(portal_url: str, candidature_id: str) -> str:
    return f"{portal_url.rstrip('/')}/candidatures/{quote(candidature_id, safe='')}"
