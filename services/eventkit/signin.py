"""Browser sign-in for the pages a person opens from an e-mail or a calendar entry.

A browser (a GET asking for text/html) that reaches a page without a valid token raises
:class:`~eventkit.auth.SignInRequired`; this module answers it:

- with an issuer (``OIDC_ISSUER``) and a client (``OIDC_CLIENT_ID``): 303 to the issuer's
  authorization endpoint (from discovery), authorization code flow with PKCE (S256). The ``state``
  is signed (HS256 with ``OIDC_STATE_SECRET``, or a random key of the process), expires after
  :data:`STATE_TTL_SECONDS` and carries where to return: a path on this service, nothing else.
  The PKCE verifier stays in an HTTP-only cookie of the browser that started, scoped to the
  callback: the code alone is useless elsewhere, and a callback opened in another browser (someone
  else's code sent to a victim) is refused.
- ``GET /auth/callback`` checks the state and its cookie, trades the code at the token endpoint
  (``redirect_uri`` and verifier; HTTP Basic with ``OIDC_CLIENT_SECRET`` for a confidential
  client), checks the access token with the service's one verifier (same issuer, audience, keys and
  claim mapping as a bearer token), keeps it in the token cookie the pages read and sends the
  browser back to the page.
- without an issuer (embedded development run): a 401 page saying how to get a token.

Every refusal is a 4xx page (problem+json for a client that asks JSON); the issuer unreachable is
503 and the issuer refusing this service's own client credentials 502 (an operator's fix, not the
person's). The routes are left out of the OpenAPI: they are the browser's side of the sign-in
protocol, take no token and no role, and no API client has a use for them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from typing import Any, Callable
from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .auth import SignInRequired, TokenVerifier, is_https, set_token_cookie, wants_html, TOKEN_COOKIE
from .http import PROBLEM
from .logging import get_logger
from .oidc import IdentityProviderUnavailable, TokenRejected

CALLBACK_PATH = "/auth/callback"
LOGIN_PATH = "/auth/login"
LOGOUT_PATH = "/auth/logout"
STATE_TTL_SECONDS = 600  # long enough to type a password and a second factor
SIGNIN_COOKIE_PREFIX = "jumelage_signin_"
MAX_PATH = 2048
log = get_logger("eventkit.signin")


class SignInFailed(Exception):
    """The callback cannot sign the person in: answered ``status`` with ``detail``."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier (43 characters of 32 random bytes) and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(32)
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def local_path(value: str) -> str | None:
    """``value`` when it is a path on this service (``/partnerships/p1/page?x=1``), else ``None``:
    no scheme, no host, no ``//`` or backslash a browser would read as another host, no control
    character that could split a header."""
    if not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > MAX_PATH:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


class SignIn:
    """The sign-in of one service: built per request from its runtime (settings, verifier)."""

    def __init__(self, settings: Any, verifier: TokenVerifier, key: bytes,
                 now: Callable[[], float] = time.time) -> None:
        self.settings, self.verifier, self.key, self.now = settings, verifier, key, now

    @property
    def enabled(self) -> bool:
        return self.verifier.oidc is not None and bool(self.settings.oidc_client_id)

    @property
    def public_url(self) -> str:
        return self.settings.public_url.rstrip("/")

    @property
    def redirect_uri(self) -> str:
        return self.public_url + CALLBACK_PATH

    @property
    def audience(self) -> str:
        return f"jumelage-signin:{self.settings.service}"  # a state of one service is no state of another

    def _cookie_path(self) -> str:
        return (urlsplit(self.public_url).path.rstrip("/") or "") + CALLBACK_PATH

    async def start(self, request: Request, next_path: str) -> Response:
        """303 to the issuer's authorization endpoint, the verifier left in this browser's cookie."""
        assert self.verifier.oidc is not None
        endpoint = await self.verifier.oidc.endpoint("authorization_endpoint")
        verifier, challenge = pkce_pair()
        nonce = secrets.token_urlsafe(16)
        state = jwt.encode({"n": nonce, "next": next_path, "aud": self.audience,
                            "exp": int(self.now()) + STATE_TTL_SECONDS}, self.key, algorithm="HS256")
        query = urlencode({"response_type": "code", "client_id": self.settings.oidc_client_id,
                           "redirect_uri": self.redirect_uri, "scope": self.settings.oidc_signin_scope,
                           "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
        response = RedirectResponse(endpoint + ("&" if "?" in endpoint else "?") + query, status_code=303)
        response.set_cookie(_cookie_name(nonce), verifier, max_age=STATE_TTL_SECONDS, path=self._cookie_path(),
                            httponly=True, samesite="lax", secure=is_https(request))
        response.headers["Cache-Control"] = "no-store"
        return response

    def read_state(self, state: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(state, self.key, algorithms=["HS256"], audience=self.audience,
                                options={"require": ["exp", "aud", "n", "next"]})
        except jwt.ExpiredSignatureError as exc:
            raise SignInFailed(400, "this sign-in has expired: open the page again") from exc
        except jwt.PyJWTError as exc:
            raise SignInFailed(400, f"this sign-in's state is not one this service issued ({exc})") from exc
        if not isinstance(claims["n"], str) or local_path(str(claims["next"])) is None:
            raise SignInFailed(400, "this sign-in's state names no page of this service")
        return claims

    async def finish(self, request: Request, code: str | None, state: str, error: str | None,
                     error_description: str | None) -> Response:
        claims = self.read_state(state)
        cookie = _cookie_name(claims["n"])
        verifier = request.cookies.get(cookie)
        if not verifier:
            raise SignInFailed(400, "this sign-in was not started in this browser, or is already over: "
                                    "open the page again")
        if error:
            said = f"{error}" + (f": {error_description}" if error_description else "")
            raise SignInFailed(403 if error == "access_denied" else 400,
                               f"the identity provider did not sign you in ({said})")
        if not code:
            raise SignInFailed(400, "the identity provider sent back no code (query.code)")
        token = await self._exchange(code, verifier)
        try:
            principal = await self.verifier.verify(token)
        except TokenRejected as exc:
            raise SignInFailed(exc.status, f"the identity provider's token is refused: {exc.detail}") from exc
        log.info("signed_in", role=principal.role.value, scope=principal.scope)
        response = RedirectResponse(self.public_url + claims["next"], status_code=303)
        set_token_cookie(response, request, token)
        response.delete_cookie(cookie, path=self._cookie_path())
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _exchange(self, code: str, verifier: str) -> str:
        """The access token for ``code``, from the issuer's token endpoint."""
        assert self.verifier.oidc is not None
        endpoint = await self.verifier.oidc.endpoint("token_endpoint")
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "client_id": self.settings.oidc_client_id, "code_verifier": verifier}
        secret = self.settings.oidc_client_secret
        # RFC 6749 2.3.1: client id and secret are form-encoded, then put in HTTP Basic
        auth = (quote(self.settings.oidc_client_id, safe=""), quote(secret, safe="")) if secret else None
        try:
            async with httpx.AsyncClient(timeout=self.verifier.oidc.config.timeout) as client:
                answer = await client.post(endpoint, data=form, auth=auth, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise SignInFailed(503, f"the identity provider cannot be reached now ({exc!r}): retry",
                               retry_after=10) from exc
        body = _json(answer)
        if answer.status_code in (400, 401) and body.get("error") == "invalid_client":
            log.error("signin_client_refused", issuer=self.settings.oidc_issuer, client=self.settings.oidc_client_id)
            raise SignInFailed(502, "the identity provider refused this service's client credentials "
                                    "(OIDC_CLIENT_ID / OIDC_CLIENT_SECRET): tell its operators")
        if answer.status_code >= 500:
            raise SignInFailed(503, f"the identity provider failed ({answer.status_code}): retry", retry_after=10)
        if answer.status_code != 200:
            said = f"{body.get('error', answer.status_code)}: {body.get('error_description', '')}".rstrip(": ")
            raise SignInFailed(400, f"the identity provider refused the code ({said}): open the page again")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SignInFailed(502, "the identity provider answered no access_token")
        return token


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _cookie_name(nonce: str) -> str:
    return SIGNIN_COOKIE_PREFIX + hashlib.sha256(nonce.encode()).hexdigest()[:16]


def sign_in_of(request: Request) -> SignIn:
    runtime = request.app.state.runtime
    return SignIn(runtime.settings, runtime.verifier, request.app.state.sign_in_key)


# -- answers for people --------------------------------------------------------------------------


def person_problem(request: Request, status: int, title: str, detail: str, *, body_html: str = "",
                   headers: dict[str, str] | None = None) -> Response:
    """A refusal a person can read (HTML) or, for a client asking JSON, problem+json."""
    if not wants_html(request):
        return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail},
                            status_code=status, media_type=PROBLEM, headers=headers)
    return html_page(status, title, detail, body_html, headers)


def html_page(status: int, title: str, detail: str, body_html: str = "",
              headers: dict[str, str] | None = None) -> HTMLResponse:
    page = (f"<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<meta name=\"viewport\" content=\"width=device-width\"></head><body style=\"font-family:sans-serif;"
            f"max-width:42rem;margin:2rem auto;line-height:1.5\"><h1>{html.escape(title)}</h1>"
            f"<p id=\"detail\">{html.escape(detail)}</p>{body_html}</body></html>")
    return HTMLResponse(page, status_code=status, headers={**(headers or {}), "Cache-Control": "no-store"})


def _how_to_sign_in(request: Request, exc: SignInRequired) -> Response:
    """No sign-in to send the browser to: say how to open the page with a token."""
    settings = request.app.state.runtime.settings
    link = html.escape(settings.public_url.rstrip("/") + exc.next_path
                       + ("&" if "?" in exc.next_path else "?") + "token=")
    if settings.oidc_issuer:
        detail = (f"This page needs you to be signed in, and sign-in through {settings.oidc_issuer} is not set up "
                  f"for this service's pages (OIDC_CLIENT_ID). Send an access token of that issuer as a bearer "
                  f"token, or ask the operators.")
        more = f"<p>Open <code>{link}<var>ACCESS_TOKEN</var></code>.</p>"
    else:
        detail = ("This page needs a token, and this service signs no one in by itself (no identity provider "
                  "is configured: a development run). Add your token to the link.")
        more = (f"<p>Open <a href=\"{link}\"><code>{link}<var>TOKEN</var></code></a> with a development token "
                f"printed by <code>jumelage token --role school --scope 0750655E</code> (roles: school, partner, "
                f"academie, national, admin; the scope is the UAI, partner id or académie code; "
                f"<code>jumelage token --help</code>).</p>")
    return person_problem(request, 401, "Sign-in needed", f"{detail} ({exc.detail})", body_html=more,
                          headers={"WWW-Authenticate": "Bearer"})


def _failed(request: Request, exc: SignInFailed) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    title = "Sign-in failed" if exc.status < 500 else "Sign-in unavailable"
    more = "" if exc.status >= 500 else "<p>Open the link you followed again to start a new sign-in.</p>"
    return person_problem(request, exc.status, title, exc.detail, body_html=more, headers=headers)


def install_sign_in(app: FastAPI, settings: Any) -> None:
    """The sign-in routes and the answer to :class:`SignInRequired`, on every service's app."""
    app.state.sign_in_key = settings.oidc_state_secret.encode() if settings.oidc_state_secret \
        else secrets.token_bytes(32)

    @app.exception_handler(SignInRequired)
    async def _sign_in_required(request: Request, exc: SignInRequired) -> Response:
        sign_in = sign_in_of(request)
        if not sign_in.enabled:
            return _how_to_sign_in(request, exc)
        try:
            return await sign_in.start(request, exc.next_path)
        except IdentityProviderUnavailable as err:
            return _failed(request, SignInFailed(503, f"cannot sign you in now: {err}", retry_after=10))

    @app.get(LOGIN_PATH, include_in_schema=False)
    async def sign_in_route(request: Request, next: str = Query("/", max_length=MAX_PATH)) -> Response:
        """A sign-in link (``?next=/a/page``): only to a path of this service."""
        if local_path(next) is None:
            return person_problem(request, 400, "Bad request",
                                  "query.next: must be a path on this service (starting with one /)")
        raise SignInRequired(next, "sign-in asked")

    @app.get(CALLBACK_PATH, include_in_schema=False)
    async def sign_in_callback(request: Request, state: str = Query(..., max_length=4096),
                               code: str | None = Query(None, max_length=4096),
                               error: str | None = Query(None, max_length=256),
                               error_description: str | None = Query(None, max_length=1024)) -> Response:
        sign_in = sign_in_of(request)
        if not sign_in.enabled:
            return person_problem(request, 404, "Not found", "this service signs no one in (no OIDC_CLIENT_ID)")
        try:
            return await sign_in.finish(request, code, state, error, error_description)
        except SignInFailed as exc:
            return _failed(request, exc)
        except IdentityProviderUnavailable as exc:
            return _failed(request, SignInFailed(503, f"cannot sign you in now: {exc}", retry_after=10))

    @app.get(LOGOUT_PATH, include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        """Forgets the token cookie. The issuer's own session is the issuer's: a link to end it."""
        sign_in = sign_in_of(request)
        more = ""
        if sign_in.verifier.oidc is not None:
            issuer = html.escape(sign_in.settings.oidc_issuer)
            try:
                end = await sign_in.verifier.oidc.endpoint("end_session_endpoint")
                there = f"<a href=\"{html.escape(end)}\">sign out there too</a>"
            except IdentityProviderUnavailable:
                there = "sign out there too"
            more = (f"<p>You may still be signed in at <code>{issuer}</code>, which would sign you in here again "
                    f"at once: {there}.</p>")
        response = html_page(200, "Signed out", "This service forgot your token.", more)
        response.delete_cookie(TOKEN_COOKIE)
        return response
