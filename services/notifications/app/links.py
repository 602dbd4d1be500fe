"""Where a person is sent from an e-mail or a calendar entry: the partnership's HTML page that the
programmes service serves, or the campaign's page that the candidatures service serves (each under
the same scopes as its API), at its public address. A decision on a candidature that is not (or not
yet) a partnership links to its campaign's page, which lists the school's candidatures and their state."""

from __future__ import annotations

from urllib.parse import quote


def partnership_page(programmes_url: str, partnership_id: str) -> str:
    return f"{programmes_url.rstrip('/')}/partnerships/{quote(partnership_id, safe='')}/page"


def campaign_page_url(candidatures_url: str, campaign_id: str) -> str:
    return f"{candidatures_url.rstrip('/')}/campaigns/{quote(campaign_id, safe='')}/page"

