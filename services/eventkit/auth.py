"""Signed bearer tokens (HS256 JWT) with a role and a scope.

scope by role: school → its UAI; partner → its partner id; academie → its académie code;
national and admin → ``*``. Services check scope against the resource (a school acts for its own
UAI only, an académie instructs its own campaigns only…).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

import jwt
from fastapi import Depends, HTTPException, Request

from jumelage_contracts import Actor, Role

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    role: Role
    scope: str
    subject: str

    @property
    def actor(self) -> Actor:
        return Actor(role=self.role, id=self.subject)

    def is_global(self) -> bool:
        return self.role in (Role.national, Role.admin, Role.system)

    def can_act_for(self, role: Role, scope: str | None) -> bool:
        """True when this principal is ``role`` with exactly ``scope`` (or is global)."""
        return self.is_global() or (self.role == role and scope is not None and self.scope == scope)


def mint_token(secret: str, role: Role | str, scope: str, subject: str | None = None,
               ttl: timedelta = timedelta(hours=12), now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    role = Role(role)
    claims = {
        "sub": subject or f"{role.value}:{scope}",
        "role": role.value,
        "scope": scope,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "role", "scope"]})
    return Principal(role=Role(claims["role"]), scope=str(claims["scope"]), subject=str(claims.get("sub", "")))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def principal_dependency(secret_of: Callable[[Request], str]):
    """A FastAPI dependency returning the caller's Principal, 401 without a valid token."""

    async def current_principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("missing bearer token")
        try:
            return decode_token(secret_of(request), token.strip())
        except (jwt.PyJWTError, ValueError) as exc:
            raise _unauthorized(f"invalid token: {exc}") from exc

    return current_principal


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
