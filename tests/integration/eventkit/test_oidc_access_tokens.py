"""People sign in through an OpenID Connect issuer: the four services verify its RS256/ES256 access
tokens (discovery, JWKS, audience, issuer, expiry with leeway), over real HTTP against an issuer
of the tests' own (oidc_test_issuer), on the services' real routes and with their one verifier."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib
import json
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import AsyncIterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from eventkit.auth import TokenVerifier, mint_token
from eventkit.settings import DEV_SECRET, ServiceSettings
from eventkit.sql import open_store

from oidc_test_issuer import AUDIENCE, TestIssuer, start_issuer

UAI = "0750655E"
# One read route per service that an académie may call on an empty store.
ROUTES = {"candidatures": "/campaigns", "programmes": "/partnerships", "notifications": "/reminders",
          "reporting": "/indicators"}


@pytest.fixture
def issuer() -> TestIssuer:
    issuer = start_issuer()
    issuer.add_key("RS256")
    issuer.add_key("ES256")
    yield issuer
    issuer.close()


def settings_for(service: str, database_url: str, env: dict[str, str]) -> ServiceSettings:
    return ServiceSettings.from_env(service, env=env, database_url=database_url)


def oidc_env(issuer: TestIssuer, **more: str) -> dict[str, str]:
    return {"OIDC_ISSUER": issuer.url, "OIDC_AUDIENCE": AUDIENCE, **more}


def _build(service: str, settings: ServiceSettings, store):
    """The service's app and runtime, built by its own bootstrap."""
    boot = importlib.import_module(f"{service}.bootstrap")
    if service == "candidatures":
        runtime = boot.build_runtime(settings, store=store, consumers=False)
        return boot.build_app(runtime=runtime), runtime
    if service == "programmes":
        runtime = boot.build_runtime(settings, store=store)
        return boot.build_app(runtime=runtime, consumers=False), runtime
    if service == "notifications":
        app, built = boot.build(settings, store=store, scheduler_enabled=False)
        return app, built.runtime
    runtime = boot.build_runtime(settings, store=store)
    runtime.engine = store.engine  # what start() sets; reporting's reader needs it
    return boot.build_app(settings, runtime=runtime), runtime


def _migrations(service: str):
    return {"candidatures": "candidatures.adapters.read_model", "programmes": "programmes.adapters.directory",
            "notifications": "notifications.adapters.db", "reporting": "reporting.bootstrap"}[service]


@asynccontextmanager
async def service_app(service: str, settings: ServiceSettings, verifier: TokenVerifier | None = None
                      ) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app in process on a SQLite store (no NATS: the lifespan is not run)."""
    module = importlib.import_module(_migrations(service))
    migrations = getattr(module, "MIGRATIONS", None) or getattr(module, "MIGRATIONS_DIR")
    store = await open_store(settings.database_url, extra_migrations=[migrations])
    try:
        app, runtime = _build(service, settings, store)
        if verifier is not None:
            runtime.verifier = verifier
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}") as client:
            yield client
    finally:
        await store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def kid_of(issuer: TestIssuer, alg: str) -> str:
    return next(k for k in issuer.published if issuer.keys[k].alg == alg)


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail


@pytest.mark.parametrize("service", sorted(ROUTES))
@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_every_service_accepts_an_access_token_of_its_issuer(issuer, sqlite_url, service, alg) -> None:
    token = issuer.token(kid_of(issuer, alg), roles="academie", scope="paris")
    async with service_app(service, settings_for(service, sqlite_url, oidc_env(issuer))) as client:
        assert (await client.get(ROUTES[service], headers=bearer(token))).status_code == 200
        if service == "reporting":  # the browser's way in: ?token= and the cookie
            assert (await client.get(ROUTES[service], params={"token": token})).status_code == 200
            client.cookies.set("jumelage_token", token)
            assert (await client.get(ROUTES[service])).status_code == 200


def _unsigned(issuer: TestIssuer) -> str:
    claims = jwt.decode(issuer.token(kid_of(issuer, "RS256")), options={"verify_signature": False})
    return jwt.encode(claims, None, algorithm="none", headers={"kid": kid_of(issuer, "RS256")})


def _confused(issuer: TestIssuer) -> str:
    """HS256 keyed with the issuer's public RSA key: the classic algorithm-confusion forgery,
    signed by hand as an attacker would (PyJWT refuses a PEM as an HMAC key)."""
    key = issuer.keys[kid_of(issuer, "RS256")].private.public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = jwt.decode(issuer.token(kid_of(issuer, "RS256")), options={"verify_signature": False})
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid_of(issuer, "RS256")}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}." + b64(hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())


def _foreign_key(issuer: TestIssuer) -> str:
    kid = issuer.add_key("RS256", publish=False)
    return issuer.token(kid)


REFUSED = {
    "another audience": (lambda i: i.token(kid_of(i, "RS256"), audience="account"), ["audience", AUDIENCE]),
    "no audience": (lambda i: i.token(kid_of(i, "ES256"), drop=("aud",)), ["aud"]),
    "expired beyond the leeway": (lambda i: i.token(kid_of(i, "ES256"), expires_in=timedelta(seconds=-120)),
                                  ["expired"]),
    "another issuer": (lambda i: i.token(kid_of(i, "RS256"), issuer="http://127.0.0.1:1/realms/other"), ["issuer"]),
    "a key the issuer never published": (_foreign_key, ["unknown signing key"]),
    "alg none": (_unsigned, ["algorithm", "none"]),
    "a development token (HS256)": (lambda i: mint_token(DEV_SECRET, "academie", "paris"), ["HS256", "refused"]),
    "HS256 keyed with the issuer's public key": (_confused, ["HS256", "refused"]),
    "a tampered payload": (lambda i: _tampered(i.token(kid_of(i, "RS256"), scope="paris")), ["Signature"]),
}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["jumelage_scope"] = "creteil"
    forged = b64(json.dumps(claims).encode())
    return f"{head}.{forged}.{sig}"


@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_a_token_that_differs_from_a_good_one_in_one_point_is_401(issuer, sqlite_url, case) -> None:
    make, words = REFUSED[case]
    async with service_app("candidatures", settings_for("candidatures", sqlite_url, oidc_env(issuer))) as client:
        good = issuer.token(kid_of(issuer, "RS256"))
        assert (await client.get("/campaigns", headers=bearer(good))).status_code == 200
        refused = await client.get("/campaigns", headers=bearer(make(issuer)))
        assert_problem(refused, 401, *words)
        assert refused.headers["www-authenticate"] == "Bearer"


async def test_expiry_has_a_leeway_for_clock_skew(issuer, sqlite_url) -> None:
    env = oidc_env(issuer, OIDC_LEEWAY_SECONDS="60")
    async with service_app("programmes", settings_for("programmes", sqlite_url, env)) as client:
        just_expired = issuer.token(kid_of(issuer, "ES256"), expires_in=timedelta(seconds=-20))
        long_expired = issuer.token(kid_of(issuer, "ES256"), expires_in=timedelta(seconds=-300))
        assert (await client.get("/partnerships", headers=bearer(just_expired))).status_code == 200
        assert_problem(await client.get("/partnerships", headers=bearer(long_expired)), 401, "expired")


class Monotonic:
    """The verifier's clock for rate limits: the test moves it, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_keys_are_cached_a_rotated_key_is_fetched_once_and_unknown_keys_are_rate_limited(
        issuer, sqlite_url) -> None:
    settings = settings_for("candidatures", sqlite_url, oidc_env(issuer, OIDC_JWKS_MIN_REFETCH_SECONDS="10",
                                                                  OIDC_JWKS_MAX_AGE_SECONDS="600"))
    clock = Monotonic()
    async with service_app("candidatures", settings, TokenVerifier.from_settings(settings, clock)) as client:
        for alg in ("RS256", "ES256", "RS256", "ES256", "RS256"):
            assert (await client.get("/campaigns", headers=bearer(issuer.token(kid_of(issuer, alg))))).status_code == 200
        assert (issuer.hits["discovery"], issuer.jwks_fetches) == (1, 1)  # not fetched per request

        clock.now += 11
        rotated = issuer.add_key("ES256")  # the provider rotates: new key published, tokens signed with it
        assert (await client.get("/campaigns", headers=bearer(issuer.token(rotated)))).status_code == 200
        assert issuer.jwks_fetches == 2  # one refetch, on the first token with the new kid
        assert (await client.get("/campaigns", headers=bearer(issuer.token(rotated)))).status_code == 200
        assert issuer.jwks_fetches == 2

        for _ in range(5):  # made-up key ids do not turn into requests to the provider
            assert_problem(await client.get("/campaigns", headers=bearer(_foreign_key(issuer))), 401, "unknown")
        assert issuer.jwks_fetches == 2
        clock.now += 11
        assert_problem(await client.get("/campaigns", headers=bearer(_foreign_key(issuer))), 401, "unknown")
        assert issuer.jwks_fetches == 3  # one refetch per interval at most

        clock.now += 600  # past the max age the set is refreshed once, then cached again
        for _ in range(3):
            assert (await client.get("/campaigns", headers=bearer(issuer.token(rotated)))).status_code == 200
        assert issuer.jwks_fetches == 4
        assert issuer.hits["discovery"] == 1


async def test_role_and_scope_come_from_the_configured_claims(issuer, sqlite_url) -> None:
    """Another provider's shape: the role a plain string, the scope under a URL-like claim name."""
    scope_claim = "https://jumelage.example.fr/scope"
    env = oidc_env(issuer, OIDC_ROLE_CLAIM="jumelage_role", OIDC_SCOPE_CLAIM=scope_claim)

    def token(role: str, scope: str) -> dict[str, str]:
        return bearer(issuer.token(kid_of(issuer, "ES256"), roles=[], scope=None,
                                   extra={"jumelage_role": role, scope_claim: scope}))

    async with service_app("reporting", settings_for("reporting", sqlite_url, env)) as client:
        assert (await client.get("/academies/paris/campaigns", headers=token("academie", "paris"))).status_code == 200
        assert_problem(await client.get("/academies/lille/campaigns", headers=token("academie", "paris")), 403,
                       "paris cannot read lille")
        assert_problem(await client.get("/academies/paris/campaigns", headers=token("school", UAI)), 403,
                       "school cannot read")
        # the Keycloak-shaped claims are not read any more
        keycloak_shaped = bearer(issuer.token(kid_of(issuer, "ES256"), roles=["national"]))
        assert_problem(await client.get("/academies/paris/campaigns", headers=keycloak_shaped), 403, "jumelage_role")


async def test_concurrent_first_requests_share_one_fetch_of_the_keys(issuer, sqlite_url) -> None:
    async with service_app("programmes", settings_for("programmes", sqlite_url, oidc_env(issuer))) as client:
        tokens = [issuer.token(kid_of(issuer, alg)) for alg in ("RS256", "ES256") * 10]
        answers = await asyncio.gather(*(client.get("/partnerships", headers=bearer(t)) for t in tokens))
    assert [a.status_code for a in answers] == [200] * 20
    assert (issuer.hits["discovery"], issuer.jwks_fetches) == (1, 1)


ROLE_REFUSED = {
    "system": (["system"], "*", "system"),
    "system beside a real role": (["national", "system"], "*", "system"),
    "no Jumelage role": (["offline_access"], "paris", "exactly one"),
    "two Jumelage roles": (["academie", "school"], "paris", "exactly one"),
    "a school without its UAI": (["school"], None, "scope"),
    "a school whose scope is everything": (["school"], "*", "scope"),
}


@pytest.mark.parametrize("case", sorted(ROLE_REFUSED))
async def test_a_signed_token_without_one_usable_role_is_403(issuer, sqlite_url, case) -> None:
    roles, scope, word = ROLE_REFUSED[case]
    async with service_app("notifications", settings_for("notifications", sqlite_url, oidc_env(issuer))) as client:
        good = issuer.token(kid_of(issuer, "RS256"), roles=["school"], scope=UAI)
        assert (await client.get("/reminders", headers=bearer(good))).status_code == 200
        token = issuer.token(kid_of(issuer, "RS256"), roles=roles, scope=scope)
        assert_problem(await client.get("/reminders", headers=bearer(token)), 403, word)


@pytest.mark.parametrize("service", sorted(ROUTES))
async def test_the_system_role_is_refused_from_a_development_token_too(sqlite_url, service) -> None:
    settings = settings_for(service, sqlite_url, {"JUMELAGE_ENV": "development"})
    async with service_app(service, settings) as client:
        national = mint_token(settings.jwt_secret, "national", "*")
        assert (await client.get(ROUTES[service], headers=bearer(national))).status_code == 200
        system = mint_token(settings.jwt_secret, "system", "*")
        assert_problem(await client.get(ROUTES[service], headers=bearer(system)), 403, "system")


async def test_the_key_set_can_be_fetched_from_an_address_of_its_own_without_discovery(issuer, sqlite_url) -> None:
    env = oidc_env(issuer, OIDC_JWKS_URL=issuer.url + "/protocol/openid-connect/certs",
                   OIDC_DISCOVERY_URL="http://127.0.0.1:1/unreachable")
    async with service_app("candidatures", settings_for("candidatures", sqlite_url, env)) as client:
        token = issuer.token(kid_of(issuer, "ES256"))
        assert (await client.get("/campaigns", headers=bearer(token))).status_code == 200
    assert (issuer.hits["discovery"], issuer.jwks_fetches) == (0, 1)


async def test_discovery_naming_another_issuer_is_not_trusted(issuer, sqlite_url) -> None:
    env = oidc_env(issuer, OIDC_ISSUER=issuer.url + "-impostor",
                   OIDC_DISCOVERY_URL=issuer.url + "/.well-known/openid-configuration")
    async with service_app("candidatures", settings_for("candidatures", sqlite_url, env)) as client:
        token = issuer.token(kid_of(issuer, "RS256"), issuer=issuer.url + "-impostor")
        assert_problem(await client.get("/campaigns", headers=bearer(token)), 503, "cannot verify")
    assert issuer.jwks_fetches == 0


async def test_an_unreachable_issuer_answers_503_not_500(issuer, sqlite_url) -> None:
    token = issuer.token(kid_of(issuer, "RS256"))
    env = oidc_env(issuer)
    issuer.close()
    async with service_app("reporting", settings_for("reporting", sqlite_url, env)) as client:
        response = await client.get("/indicators", params={"token": token})
        assert_problem(response, 503, "cannot verify tokens")
        assert response.headers["retry-after"]
