"""Access tokens from an OpenID Connect issuer: discovery, a cached JWKS, signature and claims.

Why not ``jwt.PyJWKClient``: it fetches with blocking ``urllib`` (an event loop would stall on a
slow identity provider, or need a thread per verification), and on an unknown ``kid`` it refetches
the key set every time, so a stream of tokens with made-up key ids becomes a stream of requests to
the identity provider. Here the key set is fetched with ``httpx`` (async), kept for
``jwks_max_age`` seconds, and an unknown ``kid`` triggers one refetch at most every
``min_refetch`` seconds, shared by every request waiting on it (a lock makes it single-flight).
A key published by the provider after a rotation is therefore picked up at its first token.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import jwt

from .logging import get_logger

# Asymmetric only: the key comes from the provider's published set, never a shared secret.
SUPPORTED_ALGORITHMS = ("RS256", "ES256")


class TokenRejected(Exception):
    """The token does not let its bearer in: 401 (not a valid credential) or 403 (valid, but it
    carries no role this service accepts)."""

    def __init__(self, detail: str, status: int = 401) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class IdentityProviderUnavailable(Exception):
    """No key set could be fetched from the issuer and none is cached (503: retry later)."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    discovery_url: str = ""  # default: <issuer>/.well-known/openid-configuration
    jwks_url: str = ""  # set: the key set is fetched there, without discovery
    algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS
    leeway_seconds: float = 30.0
    jwks_max_age: float = 600.0
    min_refetch: float = 10.0
    timeout: float = 5.0

    @property
    def discovery(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass
class JwksCache:
    """The issuer's signing keys by ``kid``, refreshed when older than ``jwks_max_age`` or, rate
    limited, when a token names a key the cached set does not have."""

    config: OidcConfig
    monotonic: Callable[[], float] = time.monotonic
    _keys: dict[str, jwt.PyJWK] | None = None
    _jwks_uri: str | None = None
    _metadata: dict[str, Any] | None = None  # the discovery document, once fetched
    _fetched_at: float = 0.0
    _attempted_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if self._keys is not None and kid in self._keys and not self._old():
            return self._keys[kid]
        async with self._lock:  # one fetch for every request that needs it
            wanted = self._keys is None or kid not in self._keys or self._old()
            if wanted and self._may_refetch():
                await self._refresh(kid)
            if self._keys is None:
                raise IdentityProviderUnavailable(f"no signing keys from {self.config.issuer}")
            return self._keys.get(kid)

    def _old(self) -> bool:
        return self.monotonic() - self._fetched_at >= self.config.jwks_max_age

    def _may_refetch(self) -> bool:
        """At most one attempt per ``min_refetch`` seconds, successful or not: neither made-up key
        ids nor a provider that is down turn requests into fetches."""
        return self._attempted_at is None or self.monotonic() - self._attempted_at >= self.config.min_refetch

    async def _refresh(self, wanted: str) -> None:
        self._attempted_at = self.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout) as client:
                if self._jwks_uri is None:
                    self._jwks_uri = self.config.jwks_url or await self._discover(client)
                response = await client.get(self._jwks_uri)
                response.raise_for_status()
                keys = _signing_keys(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            # A key set we hold stays usable while the provider is away; the next attempt
            # rediscovers in case the provider moved its JWKS.
            self._jwks_uri = self._metadata = None
            get_logger("eventkit.oidc").warning("jwks_fetch_failed", issuer=self.config.issuer, error=str(exc))
            return
        self._keys, self._fetched_at = keys, self.monotonic()
        get_logger("eventkit.oidc").info("jwks_fetched", issuer=self.config.issuer, kids=sorted(keys),
                                         wanted=wanted)

    async def _discover(self, client: httpx.AsyncClient) -> str:
        document = await self.metadata(client)
        if not isinstance(document.get("jwks_uri"), str):
            raise ValueError("discovery document has no jwks_uri")
        return document["jwks_uri"]

    async def metadata(self, client: httpx.AsyncClient) -> dict[str, Any]:
        """The issuer's discovery document (kept once fetched); raises ``httpx.HTTPError`` or
        ``ValueError`` (not JSON, or naming another issuer)."""
        if self._metadata is not None:
            return self._metadata
        response = await client.get(self.config.discovery)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
            named = document.get("issuer") if isinstance(document, dict) else None
            raise ValueError(f"discovery names issuer {named!r}, expected {self.config.issuer!r}")
        self._metadata = document
        return document


def _signing_keys(jwks: Any) -> dict[str, jwt.PyJWK]:
    """The usable signature keys of a JWKS; encryption keys (Keycloak publishes an RSA-OAEP one)
    and keys of algorithms this service does not accept are left out."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("JWKS has no keys list")
    keys: dict[str, jwt.PyJWK] = {}
    for data in jwks["keys"]:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig" or not isinstance(data.get("kid"), str):
            continue
        try:
            key = jwt.PyJWK(data)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue
        if key.algorithm_name in SUPPORTED_ALGORITHMS:
            keys[data["kid"]] = key
    return keys


@dataclass
class OidcVerifier:
    """Checks an access token of the configured issuer and returns its claims."""

    config: OidcConfig
    monotonic: Callable[[], float] = time.monotonic
    jwks: JwksCache = field(init=False)

    def __post_init__(self) -> None:
        self.jwks = JwksCache(self.config, self.monotonic)

    async def endpoint(self, name: str) -> str:
        """An endpoint of the discovery document (``authorization_endpoint``, ``token_endpoint``…),
        for browser sign-in; raises :class:`IdentityProviderUnavailable` when it cannot be had."""
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout) as client:
                document = await self.jwks.metadata(client)
        except (httpx.HTTPError, ValueError) as exc:
            raise IdentityProviderUnavailable(f"no discovery document from {self.config.issuer}: {exc}") from exc
        value = document.get(name)
        if not isinstance(value, str) or not value:
            raise IdentityProviderUnavailable(f"the discovery document of {self.config.issuer} has no {name}")
        return value

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"invalid token: {exc}") from exc
        alg = header.get("alg")
        if alg == "HS256":
            raise TokenRejected(f"HS256 development tokens are refused: this service trusts the identity "
                                f"provider {self.config.issuer}")
        if alg not in self.config.algorithms:
            raise TokenRejected(f"invalid token: algorithm {alg!r} is not accepted ({', '.join(self.config.algorithms)})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("invalid token: no key id (kid) in its header")
        key = await self.jwks.key(kid)
        if key is None:
            raise TokenRejected(f"invalid token: unknown signing key {kid!r} for issuer {self.config.issuer}")
        if key.algorithm_name != alg:
            raise TokenRejected(f"invalid token: key {kid!r} is for {key.algorithm_name}, not {alg}")
        try:
            return jwt.decode(token, key.key, algorithms=[alg], audience=self.config.audience,
                              issuer=self.config.issuer, leeway=self.config.leeway_seconds,
                              options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("invalid token: expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected(f"invalid token: audience is not {self.config.audience}") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected(f"invalid token: issuer is not {self.config.issuer}") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"invalid token: {exc}") from exc
