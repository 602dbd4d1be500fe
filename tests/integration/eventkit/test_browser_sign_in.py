"""A person who clicks a link in an e-mail signs in at the identity provider and lands on the page:
the authorization code flow with PKCE, followed hop by hop with a real HTTP client, between the
programmes app served by uvicorn on a socket (SQLite store) and the tests' own OIDC issuer (a real
HTTP server whose token endpoint checks the client, the redirect_uri and the PKCE verifier)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from eventkit.auth import TOKEN_COOKIE

from oidc_test_issuer import TestIssuer, TestUser, start_issuer
from signin_support import BROWSER, STATE_SECRET, Served, serve_programmes
from programmes_api_support import PARTNER_ID, PID  # noqa: E402 - signin_support puts it on the path

PAGE = f"/partnerships/{PID}/page"


@pytest.fixture
def issuer() -> TestIssuer:
    issuer = start_issuer()
    issuer.add_key("RS256")
    issuer.user = TestUser(roles=["partner"], scope=PARTNER_ID, email="mediation@carnavalet.example.fr")
    yield issuer
    issuer.close()


@pytest.fixture
async def served(issuer, sqlite_url):
    served, stop = await serve_programmes(issuer, sqlite_url)
    yield served
    await stop()


async def to_the_issuer(browser: httpx.AsyncClient, served: Served, path: str = PAGE) -> httpx.Response:
    answer = await browser.get(served.base + path)
    assert answer.status_code == 303, answer.text
    return answer


async def back_from_the_issuer(browser: httpx.AsyncClient, sent: httpx.Response) -> str:
    """The issuer approves the configured user and sends the browser back: the callback's address."""
    approved = await browser.get(sent.headers["location"])
    assert approved.status_code == 302, approved.text
    return approved.headers["location"]


def on_service(served: Served, location: str) -> str:
    """A public address of the service, reached at its socket (as a reverse proxy would)."""
    assert location.startswith(served.public_url), location
    return served.base + location[len(served.public_url):]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def cookie_header(response: httpx.Response, name: str) -> str:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(name + "=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


async def test_a_person_from_a_mail_link_signs_in_at_the_issuer_and_lands_on_the_page(served, issuer) -> None:
    async with served.browser() as browser:
        sent = await to_the_issuer(browser, served)
        location = sent.headers["location"]
        assert location.startswith(issuer.authorization_endpoint + "?")
        asked = query_of(location)
        assert asked["response_type"] == "code" and asked["client_id"] == "jumelage-pages"
        assert asked["redirect_uri"] == served.public_url + "/auth/callback"
        assert asked["scope"].split() == ["openid", "email"]
        assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
        assert len(asked["state"]) > 40 and PAGE not in asked["state"]  # signed, not a bare path
        pkce = next(c for c in sent.headers.get_list("set-cookie") if c.startswith("jumelage_signin_"))
        assert "httponly" in pkce.lower() and "samesite=lax" in pkce.lower() and "Path=/auth/callback" in pkce

        callback = await back_from_the_issuer(browser, sent)
        assert callback.startswith(served.public_url + "/auth/callback?")
        signed_in = await browser.get(on_service(served, callback))
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == served.public_url + PAGE
        cookie = cookie_header(signed_in, TOKEN_COOKIE)
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "secure" not in cookie.lower()

        page = await browser.get(on_service(served, signed_in.headers["location"]))
        assert page.status_code == 200, page.text
        assert f"Jumelage {PID}" in page.text and "Programme d'actions par classe" in page.text
        again = await browser.get(served.base + PAGE)  # the cookie, no new round trip
        assert again.status_code == 200
    assert (issuer.hits["authorize"], issuer.hits["token"]) == (1, 1)
    assert issuer.token_errors == []


async def test_the_signed_in_persons_scope_applies_another_partners_page_is_403(served, issuer) -> None:
    issuer.user = TestUser(roles=["partner"], scope="theatre-de-la-ville")
    async with served.browser() as browser:
        callback = await back_from_the_issuer(browser, await to_the_issuer(browser, served))
        signed_in = await browser.get(on_service(served, callback))
        assert signed_in.status_code == 303
        refused = await browser.get(on_service(served, signed_in.headers["location"]))
        assert refused.status_code == 403, refused.text  # signed in, but not this partnership's partner
    assert issuer.hits["authorize"] == 1  # a 403 is not an invitation to sign in again


async def test_the_page_keeps_its_query_but_not_a_stale_token_across_the_sign_in(served, issuer) -> None:
    async with served.browser() as browser:
        sent = await to_the_issuer(browser, served, PAGE + "?token=expired-or-forged&tab=actions")
        callback = await back_from_the_issuer(browser, sent)
        signed_in = await browser.get(on_service(served, callback))
        assert signed_in.headers["location"] == served.public_url + PAGE + "?tab=actions"


async def test_a_tampered_or_expired_state_is_refused_with_a_4xx_and_no_cookie(served, issuer) -> None:
    async with served.browser() as browser:
        callback = await back_from_the_issuer(browser, await to_the_issuer(browser, served))
        query = query_of(callback)
        head, body, sig = query["state"].split(".")
        claims = jwt.decode(query["state"], options={"verify_signature": False})
        forged_body = base64.urlsafe_b64encode(
            json.dumps({**claims, "next": "/partnerships/another/page"}).encode()).rstrip(b"=").decode()
        for state in (f"{head}.{forged_body}.{sig}", query["state"][:-3] + "abc", "not-a-state"):
            refused = await browser.get(served.base + "/auth/callback", params={"code": query["code"], "state": state})
            assert refused.status_code == 400, refused.text
            assert refused.headers["content-type"].startswith("text/html")
            assert "sign-in" in refused.text.lower() and TOKEN_COOKIE not in refused.headers.get("set-cookie", "")
        expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, STATE_SECRET, algorithm="HS256")
        refused = await browser.get(served.base + "/auth/callback", params={"code": query["code"], "state": expired},
                                    headers={"Accept": "application/json"})
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "expired" in refused.json()["detail"]
    assert issuer.hits["token"] == 0  # none of them reached the token endpoint


async def test_a_code_replayed_is_refused_by_the_service_and_by_the_issuer(served, issuer) -> None:
    async with served.browser() as browser:
        callback = await back_from_the_issuer(browser, await to_the_issuer(browser, served))
        assert (await browser.get(on_service(served, callback))).status_code == 303
        replayed = await browser.get(on_service(served, callback))  # the same URL again: its sign-in is over
        assert replayed.status_code == 400 and "again" in replayed.text
        assert issuer.hits["token"] == 1

        # a new sign-in in the same browser (signed out first), fed the old code: the issuer refuses it
        browser.cookies.delete(TOKEN_COOKIE)
        fresh = await back_from_the_issuer(browser, await to_the_issuer(browser, served))
        old_code = query_of(callback)["code"]
        refused = await browser.get(served.base + "/auth/callback",
                                    params={"code": old_code, "state": query_of(fresh)["state"]})
        assert refused.status_code == 400, refused.text
        assert "invalid_grant" in refused.text and TOKEN_COOKIE not in refused.headers.get("set-cookie", "")
    assert issuer.token_errors == ["code already used"]


async def test_a_callback_opened_in_another_browser_is_refused(served, issuer) -> None:
    """Sign-in CSRF: someone's own code and state, sent to a victim's browser, must not sign the
    victim in as them — the PKCE verifier lives in the cookie of the browser that started."""
    async with served.browser() as attacker, served.browser() as victim:
        callback = await back_from_the_issuer(attacker, await to_the_issuer(attacker, served))
        refused = await victim.get(on_service(served, callback))
        assert refused.status_code == 400 and TOKEN_COOKIE not in victim.cookies
    assert issuer.hits["token"] == 0


@pytest.mark.parametrize("next_path", ["https://evil.example/page", "//evil.example/page", "/\\evil.example",
                                       "http:/evil.example", "partnerships/x/page", "/page\r\nSet-Cookie: x=1"])
async def test_a_next_pointing_off_site_is_refused(served, issuer, next_path) -> None:
    async with served.browser() as browser:
        refused = await browser.get(served.base + "/auth/login", params={"next": next_path})
        assert refused.status_code == 400, refused.text
        assert "location" not in refused.headers
    assert issuer.hits["authorize"] == 0


async def test_a_sign_in_link_to_a_local_path_starts_the_flow_and_returns_there(served, issuer) -> None:
    async with served.browser() as browser:
        sent = await browser.get(served.base + "/auth/login", params={"next": PAGE})
        assert sent.status_code == 303 and sent.headers["location"].startswith(issuer.authorization_endpoint)
        signed_in = await browser.get(on_service(served, await back_from_the_issuer(browser, sent)))
        assert signed_in.headers["location"] == served.public_url + PAGE


async def test_api_clients_keep_problem_json_401_with_an_issuer_configured(served, issuer) -> None:
    async with httpx.AsyncClient() as api:
        for accept in ({"Accept": "application/json"}, {}, {"Accept": "*/*"}):
            answer = await api.get(served.base + PAGE, headers=accept)
            assert answer.status_code == 401, (accept, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.headers["www-authenticate"] == "Bearer"
    assert issuer.hits["authorize"] == 0


async def test_the_provider_declining_or_a_token_the_verifier_refuses_is_a_4xx_page_not_a_500(served, issuer) -> None:
    async with served.browser() as browser:
        state = query_of((await to_the_issuer(browser, served)).headers["location"])["state"]
        declined = await browser.get(served.base + "/auth/callback",
                                     params={"state": state, "error": "access_denied", "error_description": "no"})
        assert declined.status_code == 403 and "access_denied" in declined.text

    issuer.user = TestUser(roles=[], scope=None)  # a person the realm gave no Jumelage role
    async with served.browser() as browser:
        callback = await back_from_the_issuer(browser, await to_the_issuer(browser, served))
        refused = await browser.get(on_service(served, callback))
        assert refused.status_code == 403 and "exactly one Jumelage role" in refused.text
        assert TOKEN_COOKIE not in refused.headers.get("set-cookie", "")


async def test_a_wrong_client_secret_is_the_services_fault_502_not_the_persons(issuer, sqlite_url) -> None:
    served, stop = await serve_programmes(issuer, sqlite_url, client_secret="not-the-registered-one")
    try:
        async with served.browser() as browser:
            callback = await back_from_the_issuer(browser, await to_the_issuer(browser, served))
            answer = await browser.get(on_service(served, callback))
            assert answer.status_code == 502 and "OIDC_CLIENT_SECRET" in answer.text
    finally:
        await stop()


async def test_behind_an_https_public_url_the_cookies_are_secure(issuer, sqlite_url) -> None:
    served, stop = await serve_programmes(issuer, sqlite_url, public_url="https://pages.jumelage.example.fr")
    try:
        async with served.browser() as browser:
            sent = await to_the_issuer(browser, served)
            assert "secure" in next(c for c in sent.headers.get_list("set-cookie")
                                    if c.startswith("jumelage_signin_")).lower()
            callback = await back_from_the_issuer(browser, sent)
            # the https cookie is not sent back over plain http: carry it as the proxy's browser would
            name, value = next((c.name, c.value) for c in browser.cookies.jar if c.name.startswith("jumelage_signin_"))
            signed_in = await browser.get(on_service(served, callback), headers={"Cookie": f"{name}={value}"})
            assert signed_in.status_code == 303, signed_in.text
            assert "secure" in cookie_header(signed_in, TOKEN_COOKIE).lower()
    finally:
        await stop()


async def test_sign_out_clears_the_cookie(served, issuer) -> None:
    async with served.browser() as browser:
        callback = await back_from_the_issuer(browser, await to_the_issuer(browser, served))
        await browser.get(on_service(served, callback))
        assert (await browser.get(served.base + PAGE)).status_code == 200
        out = await browser.get(served.base + "/auth/logout")
        assert out.status_code == 200 and issuer.url in out.text
        assert TOKEN_COOKIE not in browser.cookies
        assert (await browser.get(served.base + PAGE)).status_code == 303  # signed out: back to the issuer


def test_pkce_challenge_is_the_s256_digest_of_the_verifier() -> None:
    from eventkit.signin import pkce_pair

    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == digest


@pytest.mark.parametrize("service, page", [("candidatures", "/campaigns/camp-1/page"),
                                           ("programmes", PAGE), ("reporting", "/dashboard/paris?as_of=2026-01-15")])
async def test_every_service_that_serves_pages_sends_a_browser_without_a_token_to_the_issuer(
        issuer, sqlite_url, service, page) -> None:
    from test_oidc_access_tokens import oidc_env, service_app, settings_for

    public_url = f"https://{service}.jumelage.example.fr"
    env = oidc_env(issuer, OIDC_CLIENT_ID="jumelage-pages", PUBLIC_URL=public_url)
    async with service_app(service, settings_for(service, sqlite_url, env)) as client:
        sent = await client.get(page, headers=BROWSER)
        assert sent.status_code == 303, sent.text
        asked = query_of(sent.headers["location"])
        assert sent.headers["location"].startswith(issuer.authorization_endpoint)
        assert asked["redirect_uri"] == public_url + "/auth/callback"
        api = await client.get(page, headers={"Accept": "application/json"})
        assert api.status_code == 401 and api.headers["content-type"].startswith("application/problem+json")
