"""A service verifies a token's signature once, then remembers its principal until the token's
``exp``; expired, refused or forged tokens are never taken from that memory."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from eventkit import auth
from eventkit.auth import TokenRejected, TokenVerifier, mint_token

SECRET = "a-development-secret-of-at-least-32-bytes"


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The tokens whose signature was checked (PyJWT's decode, counted, still run)."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token, *args, **kwargs):
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    return seen


async def test_a_token_is_verified_once_then_remembered(decodes) -> None:
    verifier = TokenVerifier(dev_secret=SECRET)
    token = mint_token(SECRET, "school", "0750655E")
    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert first == again and first.role.value == "school" and first.scope == "0750655E"
    assert decodes == [token]
    other = mint_token(SECRET, "academie", "paris")
    assert (await verifier.verify(other)).scope == "paris"
    assert decodes == [token, other]


async def test_a_remembered_token_past_its_exp_is_refused(decodes, monkeypatch) -> None:
    verifier = TokenVerifier(dev_secret=SECRET)
    token = mint_token(SECRET, "school", "0750655E", ttl=timedelta(minutes=5))
    await verifier.verify(token)
    later = time.time() + 600
    monkeypatch.setattr(auth.time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(later), raising=False)
    with pytest.raises(TokenRejected):
        await verifier.verify(token)
    assert len(decodes) == 2  # checked again, not answered from memory


async def test_refused_tokens_are_not_remembered(decodes) -> None:
    verifier = TokenVerifier(dev_secret=SECRET)
    forged = mint_token("another-secret-of-at-least-32-bytes!!", "admin", "*")
    expired = mint_token(SECRET, "school", "0750655E", now=datetime.now(timezone.utc) - timedelta(days=1),
                         ttl=timedelta(hours=1))
    for token in (forged, expired, forged, expired):
        with pytest.raises(TokenRejected):
            await verifier.verify(token)
    assert decodes == [forged, expired, forged, expired]


async def test_the_memory_is_bounded_oldest_first(decodes, monkeypatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_KEPT", 3)
    verifier = TokenVerifier(dev_secret=SECRET)
    tokens = [mint_token(SECRET, "school", f"075065{i}E", subject=f"s{i}") for i in range(5)]
    for token in tokens:
        await verifier.verify(token)
    decodes.clear()
    await verifier.verify(tokens[4])
    await verifier.verify(tokens[0])  # forgotten: checked again
    assert decodes == [tokens[0]]


class _FrozenDatetime:
    """PyJWT reads the time through ``datetime.now(tz=timezone.utc)``."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self, tz=None):
        return datetime.fromtimestamp(self.at, tz or timezone.utc)

    def __getattr__(self, name):
        return getattr(datetime, name)
