"""An OpenID Connect issuer of the tests' own: a real HTTP server on a free port publishing a
discovery document and a JWKS, and signing access tokens with keys made by ``cryptography``.
It counts the requests it answers, so a test can tell how often a service fetched the keys."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
class TestIssuer:
    """``published`` is what the JWKS shows; ``keys`` also holds keys not (yet) published."""

    __test__ = False  # a helper, not a test class

    server: ThreadingHTTPServer
    keys: dict[str, SigningKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: {"discovery": 0, "jwks": 0})

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

    def _document(self, path: str) -> dict[str, Any] | None:
        if path == REALM_PATH + "/.well-known/openid-configuration":
            self.hits["discovery"] += 1
            return {"issuer": self.url, "jwks_uri": self.url + "/protocol/openid-connect/certs",
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        if path == REALM_PATH + "/protocol/openid-connect/certs":
            self.hits["jwks"] += 1
            # Keycloak also publishes an encryption key: verifiers must leave it out.
            enc = {**self.keys[self.published[0]].public_jwk(), "kid": "enc-key", "use": "enc", "alg": "RSA-OAEP"} \
                if self.published and self.keys[self.published[0]].alg == "RS256" else None
            return {"keys": [self.keys[k].public_jwk() for k in self.published] + ([enc] if enc else [])}
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_issuer() -> TestIssuer:
    issuer: TestIssuer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = issuer._document(self.path)
            payload = json.dumps(body).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer = TestIssuer(server)
    threading.Thread(target=server.serve_forever, name="oidc-test-issuer", daemon=True).start()
    return issuer
