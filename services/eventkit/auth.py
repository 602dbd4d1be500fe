"""Who calls: a bearer access token turned into a :class:`Principal` (role, scope, subject).

scope by role: school → its UAI; partner → its partner id; academie → its académie code;
national and admin → ``*``. Services check scope against the resource (a school acts for its own
UAI only, an académie instructs its own campaigns only…).

Two kinds of tokens, never both in one service:

- with ``OIDC_ISSUER`` set, RS256/ES256 access tokens of that OpenID Connect issuer
  (:mod:`eventkit.oidc`); role and scope come from configurable claims (by default Keycloak's
  realm roles ``realm_access.roles`` and a ``jumelage_scope`` user attribute). HS256 is refused.
- without, HS256 development tokens signed with ``JWT_SECRET`` (``jumelage token``). Outside
  development (``JUMELAGE_ENV=development``, set by the embedded runner) a service refuses to start
  on the built-in development secret or a secret shorter than 32 bytes.

The internal role ``system`` is never accepted from a token, whoever signed it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from urllib.parse import urlencode
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

import jwt
from fastapi import Depends, HTTPException, Query, Request, Response, Security
from fastapi.security import HTTPBearer

from jumelage_contracts import Actor, Role

from .oidc import IdentityProviderUnavailable, OidcConfig, OidcVerifier, TokenRejected
from .settings import DEV_SECRET

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
DEVELOPMENT = "development"
SCOPED_ROLES = (Role.school, Role.partner, Role.academie)
GLOBAL_ROLES = (Role.national, Role.admin)


@dataclass(frozen=True)
class Principal:
    role: Role
    scope: str
    subject: str
    email: str | None = None  # only an address the identity provider says it verified

    @property
    def actor(self) -> Actor:
        """Who an event says caused it. A subject that is an e-mail (some identity providers'
        ``sub`` or ``preferred_username``) would sit in clear in every event and NATS header,
        out of an erasure's reach (issue 16): the actor reads a digest of it instead, the same
        for the same address."""
        if "@" not in self.subject:
            return Actor(role=self.role, id=self.subject)
        digest = hashlib.sha256(self.subject.strip().lower().encode()).hexdigest()[:32]
        return Actor(role=self.role, id=f"user-{digest}")

    def is_global(self) -> bool:
        return self.role in (Role.national, Role.admin, Role.system)

    def can_act_for(self, role: Role, scope: str | None) -> bool:
        """True when this principal is ``role`` with exactly ``scope`` (or is global)."""
        return self.is_global() or (self.role == role and scope is not None and self.scope == scope)


def mint_token(secret: str, role: Role | str, scope: str, subject: str | None = None,
               ttl: timedelta = timedelta(hours=12), now: datetime | None = None, email: str | None = None) -> str:
    """A development token (HS256). Services accept it only when no issuer is configured."""
    now = now or datetime.now(timezone.utc)
    role = Role(role)
    claims = {
        "sub": subject or f"{role.value}:{scope}",
        "role": role.value,
        "scope": scope,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if email:
        claims.update(email=email, email_verified=True)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    """The principal of a development token; raises :class:`TokenRejected`."""
    return principal_from_claims(_dev_claims(secret, token), role_claim="role", scope_claim="scope")


def _dev_claims(secret: str, token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "role", "scope"]})
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"invalid token: {exc}") from exc


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (``realm_access.roles``); a claim whose own name has a dot
    (``https://example.org/role``) is found whole first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def principal_from_claims(claims: dict[str, Any], role_claim: str, scope_claim: str) -> Principal:
    """The one mapping from verified claims to a Principal, for both kinds of token.

    The role claim may be a string or a list (Keycloak lists realm roles, among them its own such
    as ``offline_access``): exactly one Jumelage role must be in it. ``system`` anywhere refuses the
    token. School, partner and académie need a scope (one value); national and admin get ``*``."""
    raw_roles = claim_at(claims, role_claim)
    names = [raw_roles] if isinstance(raw_roles, str) else raw_roles if isinstance(raw_roles, list) else []
    if Role.system.value in names:
        raise TokenRejected("the role system is internal and never accepted from a token", status=403)
    roles = sorted({Role(n) for n in names if isinstance(n, str) and n in Role._value2member_map_})
    if len(roles) != 1:
        found = ", ".join(r.value for r in roles) or "none"
        raise TokenRejected(f"the token must carry exactly one Jumelage role in {role_claim} (found: {found})",
                            status=403)
    role = roles[0]
    subject = claims.get("sub") or claims.get("preferred_username")
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("invalid token: no subject (sub)")
    email = claims.get("email") if claims.get("email_verified") is True else None
    if role in GLOBAL_ROLES:
        return Principal(role=role, scope="*", subject=subject, email=email)
    scope = claim_at(claims, scope_claim)
    if isinstance(scope, list) and len(scope) == 1:
        scope = scope[0]
    if not isinstance(scope, str) or not scope.strip() or scope.strip() == "*":
        raise TokenRejected(f"a {role.value} token needs one scope in {scope_claim} (UAI, partner id or "
                            f"académie code)", status=403)
    return Principal(role=role, scope=scope.strip(), subject=subject, email=email)


class InsecureSigningSecret(RuntimeError):
    """Raised at start when a service outside development would trust a guessable HS256 secret."""


def check_signing_secret(settings: Any) -> None:
    """Refuse to start outside development on the built-in secret or one under 32 bytes (a
    secret anybody can read or brute-force lets anybody mint any role). An issuer makes the
    secret unused, hence irrelevant."""
    if settings.environment == DEVELOPMENT or settings.oidc_issuer:
        return
    if settings.jwt_secret == DEV_SECRET:
        raise InsecureSigningSecret(
            "JWT_SECRET is the built-in development secret: set OIDC_ISSUER (and OIDC_AUDIENCE) to trust an "
            "identity provider, or a JWT_SECRET of at least 32 random bytes, or JUMELAGE_ENV=development "
            "for a local run")
    if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
        raise InsecureSigningSecret(f"JWT_SECRET is {len(settings.jwt_secret.encode())} bytes long; at least "
                                    f"{MIN_SECRET_BYTES} are needed outside development (JUMELAGE_ENV)")


# Verified tokens a service remembers (TokenVerifier.verify): a few hundred bytes each.
VERIFIED_KEPT = 4096


class TokenVerifier:
    """The one way a service turns a bearer token into a Principal (every route dependency and
    reporting's browser sign-in use it). Built once per service by its runtime."""

    def __init__(self, *, oidc: OidcVerifier | None = None, dev_secret: str | None = None,
                 role_claim: str = "realm_access.roles", scope_claim: str = "jumelage_scope") -> None:
        if (oidc is None) == (dev_secret is None):
            raise ValueError("a verifier trusts either an issuer or a development secret")
        self.oidc, self.dev_secret = oidc, dev_secret
        self.role_claim, self.scope_claim = role_claim, scope_claim
        self._verified: dict[str, tuple[Principal, float]] = {}  # token → (principal, exp), oldest first

    @classmethod
    def from_settings(cls, settings: Any, monotonic: Callable[[], float] = time.monotonic) -> "TokenVerifier":
        if not settings.oidc_issuer:
            return cls(dev_secret=settings.jwt_secret)
        config = OidcConfig(
            issuer=settings.oidc_issuer, audience=settings.oidc_audience, discovery_url=settings.oidc_discovery_url,
            jwks_url=settings.oidc_jwks_url,
            leeway_seconds=settings.oidc_leeway_seconds, jwks_max_age=settings.oidc_jwks_max_age_seconds,
            min_refetch=settings.oidc_jwks_min_refetch_seconds)
        return cls(oidc=OidcVerifier(config, monotonic), role_claim=settings.oidc_role_claim,
                   scope_claim=settings.oidc_scope_claim)

    async def verify(self, token: str) -> Principal:
        """The caller; raises :class:`TokenRejected` or :class:`IdentityProviderUnavailable`.

        A client sends the same token with every request until it expires: a token verified
        here is remembered (its principal, until its ``exp``; at most ``VERIFIED_KEPT`` tokens,
        the oldest forgotten first), so the signature is checked once per token, not once per
        request — a few per cent of a command's CPU. Past its ``exp`` it is verified again (and
        refused)."""
        known = self._verified.get(token)
        if known is not None:
            principal, expires = known
            if time.time() < expires:
                return principal
            del self._verified[token]
        if self.oidc is None:
            claims = _dev_claims(self.dev_secret or "", token)
            principal = principal_from_claims(claims, role_claim="role", scope_claim="scope")
        else:
            claims = await self.oidc.claims(token)
            principal = principal_from_claims(claims, self.role_claim, self.scope_claim)
        expires = claims.get("exp")
        if isinstance(expires, (int, float)) and not isinstance(expires, bool):
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (principal, float(expires))
        return principal


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def runtime_verifier(request: Request) -> TokenVerifier:
    return request.app.state.runtime.verifier


async def authenticate(verifier: TokenVerifier, token: str | None) -> Principal:
    """The Principal of ``token``, or the HTTP error to answer (401, 403, 503)."""
    if not token:
        raise _unauthorized("missing bearer token")
    try:
        return await verifier.verify(token.strip())
    except TokenRejected as exc:
        if exc.status == 401:
            raise _unauthorized(exc.detail) from exc
        raise HTTPException(status_code=exc.status, detail=exc.detail) from exc
    except IdentityProviderUnavailable as exc:
        raise HTTPException(status_code=503, detail=f"cannot verify tokens now: {exc}",
                            headers={"Retry-After": "10"}) from exc


# Declares the bearer scheme in the OpenAPI and marks every route that depends on it; reading the
# token stays with bearer_of (auto_error off: the 401 is authenticate's, as problem+json).
bearer_scheme = HTTPBearer(scheme_name="bearer", auto_error=False,
                           description="An access token: role and scope (see `jumelage token`)")


def bearer_of(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def principal_dependency(*, verifier_of: Callable[[Request], TokenVerifier] = runtime_verifier):
    """A FastAPI dependency returning the caller's Principal: 401 without a valid token, 403 for
    a valid token without a usable role, 503 when the identity provider's keys cannot be had.
    (Keyword-only: a call left from when it took a secret function fails at import, not per request.)"""

    async def current_principal(request: Request, _: Any = Security(bearer_scheme)) -> Principal:
        return await authenticate(verifier_of(request), bearer_of(request))

    return current_principal


TOKEN_COOKIE = "jumelage_token"


class SignInRequired(Exception):
    """A browser reached a page without a valid token: :mod:`eventkit.signin` answers it (a redirect
    to the identity provider, or a page saying how to sign in), never a JSON 401."""

    def __init__(self, next_path: str, detail: str) -> None:
        super().__init__(detail)
        self.next_path, self.detail = next_path, detail


def wants_html(request: Request) -> bool:
    """A person's browser: a GET (or HEAD) whose Accept names text/html at least as high as JSON.
    ``*/*`` alone (curl, httpx, generated clients) or no Accept is an API client."""
    if request.method not in ("GET", "HEAD"):
        return False
    html = json = 0.0
    for part in request.headers.get("accept", "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in ("text/html", "application/xhtml+xml"):
            html = max(html, quality)
        elif media in ("application/json", "application/problem+json"):
            json = max(json, quality)
    return html > 0 and html >= json


def next_of(request: Request) -> str:
    """Where a sign-in returns: this request's path and query, without a ``token`` (it failed)."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else request.url.path
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
    return path + ("?" + query if query else "")


def browser_principal_dependency(*, verifier_of: Callable[[Request], TokenVerifier] = runtime_verifier):
    """Like :func:`principal_dependency`, for pages a person opens from a link (dashboard, partnership
    page): the token from ``Authorization: Bearer``, else ``?token=``, else the cookie that sign-in
    (:mod:`eventkit.signin`) or :func:`remember_token` left. Same verifier, same answers (401, 403,
    503) — except that a browser without a valid token is sent to sign in (:class:`SignInRequired`)."""

    async def current_principal(request: Request,
                                token: str | None = Query(None, description="Bearer token (browsers)"),
                                _: Any = Security(bearer_scheme)) -> Principal:
        raw = bearer_of(request) or token or request.cookies.get(TOKEN_COOKIE)
        try:
            return await authenticate(verifier_of(request), raw)
        except HTTPException as exc:
            if exc.status_code == 401 and bearer_of(request) is None and wants_html(request):
                raise SignInRequired(next_of(request), str(exc.detail)) from exc
            raise

    return current_principal


def set_token_cookie(response: Response, request: Request, token: str) -> None:
    """The one way the token cookie is written: HTTP-only (no script reads it), ``SameSite=Lax``
    and ``Secure`` when the service's PUBLIC_URL is https. Lax, not Strict: a person clicking the
    link in a webmail (another site) must arrive signed in, and the last hop of a sign-in (issuer →
    callback → page) is a cross-site redirect chain, on which a browser withholds Strict cookies —
    the page would send the person back to the issuer in a loop. Lax still keeps the cookie off
    every cross-site request that is not a top-level GET, and the pages only read."""
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="lax", secure=is_https(request))


def is_https(request: Request) -> bool:
    runtime = getattr(request.app.state, "runtime", None)
    public_url = getattr(getattr(runtime, "settings", None), "public_url", "") or ""
    return public_url.lower().startswith("https://")


def remember_token(response: Response, request: Request, token: str | None) -> None:
    """Keep a ``?token=`` in the token cookie, so the page's own links work without it — only when
    that token is what signed the caller in (a bearer header wins, and its query token is not kept)."""
    if token and bearer_of(request) is None:
        set_token_cookie(response, request, token)


def require_roles(dep, roles: Iterable[Role]):
    allowed = frozenset(roles)

    async def check(principal: Principal = Depends(dep)) -> Principal:
        if principal.role not in allowed and principal.role != Role.admin:
            raise HTTPException(status_code=403, detail=f"role {principal.role.value} may not do this")
        return principal

    return check


def forbid_unless(condition: bool, detail: str = "outside your scope") -> None:
    if not condition:
        raise HTTPException(status_code=403, detail=detail)
