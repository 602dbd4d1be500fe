"""An OpenID Connect issuer of the tests' own: a real HTTP server on a free port publishing a
discovery document and a JWKS, and signing access tokens with keys made by ``cryptography``.
It counts the requests it answers, so a test can tell how often a service fetched the keys.

It also signs people in the way a browser meets it (authorization code flow with PKCE): its
authorization endpoint approves ``user`` at once (no form) and sends the browser back to the
client's registered ``redirect_uri`` with a one-time code; its token endpoint trades that code for
an access token only with the right client (and secret), the same ``redirect_uri`` and the PKCE
verifier whose S256 digest was the challenge. Refusals are RFC 6749 errors (``invalid_grant``…)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

REALM_PATH = "/realms/jumelage"
AUDIENCE = "jumelage-api"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        to_jwk = RSAAlgorithm.to_jwk if self.alg == "RS256" else ECAlgorithm.to_jwk
        return {**to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig", "alg": self.alg}


def new_key(alg: str) -> SigningKey:
    private = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
               else ec.generate_private_key(ec.SECP256R1()))
    return SigningKey(kid=f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg=alg, private=private)


@dataclass
class TestUser:
    """Whom the authorization endpoint signs in (no form: the test plays the person)."""

    __test__ = False

    roles: list[str] = field(default_factory=lambda: ["academie"])
    scope: Any = "paris"
    email: str = "someone@example.fr"
    subject: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class TestClient:
    """The relying party registered at the issuer: a confidential client when ``secret`` is set."""

    __test__ = False

    client_id: str = "jumelage-pages"
    secret: str | None = None
    redirect_uris: list[str] = field(default_factory=list)


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    user: TestUser
    scope: str
    used: bool = False


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass
class TestIssuer:
    """``published`` is what the JWKS shows; ``keys`` also holds keys not (yet) published."""

    __test__ = False  # a helper, not a test class

    server: ThreadingHTTPServer
    keys: dict[str, SigningKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: {"discovery": 0, "jwks": 0, "authorize": 0, "token": 0})
    user: TestUser = field(default_factory=TestUser)
    client: TestClient = field(default_factory=TestClient)
    grants: dict[str, Grant] = field(default_factory=dict)
    token_errors: list[str] = field(default_factory=list)  # why the token endpoint refused, in order

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{REALM_PATH}"

    @property
    def jwks_fetches(self) -> int:
        return self.hits["jwks"]

    def add_key(self, alg: str, publish: bool = True) -> str:
        key = new_key(alg)
        self.keys[key.kid] = key
        if publish:
            self.published.append(key.kid)
        return key.kid

    def publish(self, kid: str) -> None:
        self.published.append(kid)

    def token(self, kid: str, roles: list[str] | str = ("academie",), scope: Any = "paris", *,
              audience: Any = AUDIENCE, issuer: str | None = None, expires_in: timedelta = timedelta(minutes=5),
              alg: str | None = None, extra: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> str:
        """An access token shaped like Keycloak's: realm roles under ``realm_access.roles`` and the
        scope attribute in ``jumelage_scope``."""
        key = self.keys[kid]
        now = datetime.now(timezone.utc)
        claims: dict[str, Any] = {
            "iss": issuer or self.url, "aud": audience, "sub": str(uuid.uuid4()), "typ": "Bearer",
            "iat": int(now.timestamp()), "exp": int((now + expires_in).timestamp()),
            "realm_access": {"roles": ["offline_access", "default-roles-jumelage", *([roles] if isinstance(roles, str) else roles)]},
            "jumelage_scope": scope, "preferred_username": "someone",
            **(extra or {}),
        }
        for name in drop:
            claims.pop(name, None)
        return jwt.encode(claims, key.private, algorithm=alg or key.alg, headers={"kid": kid})

    @property
    def authorization_endpoint(self) -> str:
        return self.url + "/protocol/openid-connect/auth"

    @property
    def token_endpoint(self) -> str:
        return self.url + "/protocol/openid-connect/token"

    def _document(self, path: str) -> dict[str, Any] | None:
        if path == REALM_PATH + "/.well-known/openid-configuration":
            self.hits["discovery"] += 1
            return {"issuer": self.url, "jwks_uri": self.url + "/protocol/openid-connect/certs",
                    "authorization_endpoint": self.authorization_endpoint, "token_endpoint": self.token_endpoint,
                    "end_session_endpoint": self.url + "/protocol/openid-connect/logout",
                    "code_challenge_methods_supported": ["S256"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        if path == REALM_PATH + "/protocol/openid-connect/certs":
            self.hits["jwks"] += 1
            # Keycloak also publishes an encryption key: verifiers must leave it out.
            enc = {**self.keys[self.published[0]].public_jwk(), "kid": "enc-key", "use": "enc", "alg": "RSA-OAEP"} \
                if self.published and self.keys[self.published[0]].alg == "RS256" else None
            return {"keys": [self.keys[k].public_jwk() for k in self.published] + ([enc] if enc else [])}
        return None

    def authorize(self, query: dict[str, str]) -> str:
        """The address the browser is sent back to: ``redirect_uri?code=…&state=…`` for ``user``.
        A wrong client or redirect_uri raises (answered 400 here, never redirected: an
        unregistered address must not receive anything)."""
        self.hits["authorize"] += 1
        if query.get("client_id") != self.client.client_id:
            raise OAuthError("unauthorized_client", f"unknown client {query.get('client_id')!r}")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.client.redirect_uris:
            raise OAuthError("invalid_request", f"redirect_uri {redirect_uri!r} is not registered")
        if query.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "only the code flow")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            raise OAuthError("invalid_request", "PKCE with S256 is required")
        if "openid" not in query.get("scope", "").split():
            raise OAuthError("invalid_scope", "openid is required")
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(client_id=self.client.client_id, redirect_uri=redirect_uri,
                                  challenge=query["code_challenge"], user=self.user, scope=query["scope"])
        return redirect_uri + "?" + urlencode({"code": code, "state": query.get("state", "")})

    def exchange(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """The token endpoint: the code's access token, or an :class:`OAuthError`."""
        self.hits["token"] += 1
        try:
            return self._exchange(form, basic)
        except OAuthError as exc:
            self.token_errors.append(exc.description)
            raise

    def _exchange(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        if client_id != self.client.client_id or (self.client.secret is not None and secret != self.client.secret):
            raise OAuthError("invalid_client", "client authentication failed", status=401)
        if form.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code")
        grant = self.grants.get(form.get("code", ""))
        if grant is None or grant.client_id != client_id:
            raise OAuthError("invalid_grant", "unknown code")
        if grant.used:
            raise OAuthError("invalid_grant", "code already used")
        grant.used = True  # one try, right or wrong, as RFC 6749 4.1.2 asks
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        digest = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if digest.rstrip(b"=").decode() != grant.challenge:
            raise OAuthError("invalid_grant", "PKCE verification failed")
        kid = self.published[0]
        user = grant.user
        token = self.token(kid, roles=user.roles, scope=user.scope,
                           extra={"sub": user.subject, "email": user.email, "email_verified": True,
                                  "scope": grant.scope, "azp": client_id})
        return {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": grant.scope}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_issuer() -> TestIssuer:
    issuer: TestIssuer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            url = urlsplit(self.path)
            if url.path == REALM_PATH + "/protocol/openid-connect/auth":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                try:
                    location = issuer.authorize(query)
                except OAuthError as exc:
                    self._json(exc.status, {"error": exc.error, "error_description": exc.description})
                    return
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = issuer._document(self.path)
            self._json(200 if body is not None else 404, body)

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != REALM_PATH + "/protocol/openid-connect/token":
                self._json(404, None)
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            try:
                self._json(200, issuer.exchange(form, self._basic()))
            except OAuthError as exc:
                self._json(exc.status, {"error": exc.error, "error_description": exc.description})

        def _basic(self) -> tuple[str, str] | None:
            scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "basic":
                return None
            user, _, password = base64.b64decode(value).decode().partition(":")
            return unquote(user), unquote(password)  # RFC 6749 2.3.1: form-encoded, then Basic

        def _json(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = TestIssuer(server)
    threading.Thread(target=server.serve_forever, name="oidc-test-issuer", daemon=True).start()
    return issuer
