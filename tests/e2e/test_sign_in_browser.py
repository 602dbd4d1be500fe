"""A person signs in for real: headless Chromium opens the partnership page's link with no token,
follows the redirects itself (service → the tests' OIDC issuer → the service's callback → the
page), keeps the cookies a browser keeps, and shows the programme of that person's partnership."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.infra.browser import browse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "eventkit"))
from oidc_test_issuer import TestUser, start_issuer  # noqa: E402
from signin_support import serve_programmes  # noqa: E402
from programmes_api_support import PARTNER_ID, PID  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture
def issuer():
    issuer = start_issuer()
    issuer.add_key("ES256")
    yield issuer
    issuer.close()


async def test_chromium_follows_the_sign_in_from_a_mail_link_to_the_page(issuer, sqlite_url, tmp_path):
    issuer.user = TestUser(roles=["partner"], scope=PARTNER_ID)
    served, stop = await serve_programmes(issuer, sqlite_url)
    try:
        dom = await asyncio.to_thread(browse, f"{served.base}/partnerships/{PID}/page", tmp_path / "profile",
                                      "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert f"Jumelage {PID}" in dom.stdout and "Programme d'actions par classe" in dom.stdout, dom.stdout[-2000:]
        assert (issuer.hits["authorize"], issuer.hits["token"]) == (1, 1)  # the browser went through both
        assert issuer.token_errors == []

        # another person, another browser profile: signed in, but not this partnership's partner
        issuer.user = TestUser(roles=["partner"], scope="theatre-de-la-ville")
        refused = await asyncio.to_thread(browse, f"{served.base}/partnerships/{PID}/page", tmp_path / "other",
                                          "--dump-dom")
        assert refused.returncode == 0, refused.stderr[-2000:]
        assert "Programme d'actions par classe" not in refused.stdout
        assert '"status":403' in refused.stdout.replace(" ", ""), refused.stdout[-2000:]
        assert issuer.hits["token"] == 2
    finally:
        await stop()
