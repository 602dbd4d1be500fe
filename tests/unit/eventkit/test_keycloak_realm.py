"""deploy/keycloak/jumelage-realm.json, the realm compose imports (``--import-realm``): no Keycloak
runs here, so this checks what can be checked without one — its structure, and that each example
user, through the realm's mappers, becomes the Principal it is meant to be under the services'
default claim mapping."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from jumelage_contracts import Role
from jumelage_contracts.reference import Academie, is_valid_uai

from eventkit.auth import principal_from_claims
from eventkit.settings import ServiceSettings

REALM = json.loads((Path(__file__).resolve().parents[3] / "deploy" / "keycloak" / "jumelage-realm.json").read_text())
DEFAULTS = ServiceSettings.from_env("candidatures", env={})
PEOPLE_ROLES = {"school", "partner", "academie", "national", "admin"}


def client(client_id: str) -> dict:
    return next(c for c in REALM["clients"] if c["clientId"] == client_id)


def mapper(kind: str) -> dict:
    return next(m for m in client("jumelage-portal")["protocolMappers"] if m["protocolMapper"] == kind)


def access_token_claims(user: dict) -> dict:
    """The claims Keycloak puts in the user's access token: realm roles through its default
    ``roles`` scope (``realm_access.roles``), and this realm's two mappers."""
    claims = {"iss": "http://keycloak/realms/" + REALM["realm"], "sub": str(uuid.uuid4()),
              "realm_access": {"roles": ["offline_access", "uma_authorization", *user["realmRoles"]]},
              "email": user["email"], "email_verified": user["emailVerified"]}
    audience = mapper("oidc-audience-mapper")["config"]
    if audience["access.token.claim"] == "true":
        claims["aud"] = [audience["included.client.audience"], "account"]
    scope = mapper("oidc-usermodel-attribute-mapper")["config"]
    values = user.get("attributes", {}).get(scope["user.attribute"])
    if values and scope["access.token.claim"] == "true":
        claims[scope["claim.name"]] = values if scope["multivalued"] == "true" else values[0]
    return claims


def test_the_realm_holds_the_people_roles_and_never_the_internal_one() -> None:
    assert REALM["realm"] == "jumelage" and REALM["enabled"] is True
    assert {r["name"] for r in REALM["roles"]["realm"]} == PEOPLE_ROLES
    assert all(not r.get("composite") for r in REALM["roles"]["realm"])


def test_access_tokens_name_the_apis_audience_and_carry_the_scope_attribute() -> None:
    api = client("jumelage-api")
    assert api["bearerOnly"] is True and not api.get("directAccessGrantsEnabled")
    audience = mapper("oidc-audience-mapper")["config"]
    assert audience["included.client.audience"] == api["clientId"] == DEFAULTS.oidc_audience
    scope = mapper("oidc-usermodel-attribute-mapper")["config"]
    assert scope["claim.name"] == DEFAULTS.oidc_scope_claim == scope["user.attribute"]
    assert (scope["access.token.claim"], scope["multivalued"]) == ("true", "false")
    portal = client("jumelage-portal")
    assert portal["publicClient"] is True and portal["attributes"]["pkce.code.challenge.method"] == "S256"


def test_only_administrators_may_edit_the_scope_attribute() -> None:
    provider = REALM["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    scope = next(a for a in profile["attributes"] if a["name"] == DEFAULTS.oidc_scope_claim)
    assert scope["permissions"]["edit"] == ["admin"]  # a person must not widen their own scope


def test_the_example_passwords_must_be_changed_at_first_sign_in() -> None:
    assert all(c["temporary"] is True for u in REALM["users"] for c in u["credentials"])


def _scope_is_real(role: Role, scope: str) -> bool:
    return {Role.school: is_valid_uai(scope), Role.academie: scope in {a.value for a in Academie},
            Role.partner: bool(scope)}.get(role, scope == "*")


@pytest.mark.parametrize("user", REALM["users"], ids=[u["username"] for u in REALM["users"]])
def test_each_example_user_maps_to_the_principal_it_is_meant_to_be(user) -> None:
    principal = principal_from_claims(access_token_claims(user), DEFAULTS.oidc_role_claim, DEFAULTS.oidc_scope_claim)
    [role] = user["realmRoles"]
    assert principal.role == Role(role)
    assert principal.scope == user.get("attributes", {}).get("jumelage_scope", ["*"])[0]
    assert _scope_is_real(principal.role, principal.scope)
    assert principal.email == user["email"]


def test_there_is_an_example_user_of_each_kind() -> None:
    assert sorted(r for u in REALM["users"] for r in u["realmRoles"]) == sorted(PEOPLE_ROLES)


def test_the_pages_client_is_confidential_code_flow_with_pkce_only_and_maps_tokens_like_the_portal() -> None:
    pages = client("jumelage-pages")
    assert pages["publicClient"] is False and pages["clientAuthenticatorType"] == "client-secret"
    assert pages["secret"] == "${OIDC_CLIENT_SECRET}"  # from Keycloak's environment at import, never in git
    assert pages["standardFlowEnabled"] is True
    assert not pages["implicitFlowEnabled"] and not pages["directAccessGrantsEnabled"]
    assert not pages["serviceAccountsEnabled"]
    assert pages["attributes"]["pkce.code.challenge.method"] == "S256"
    assert all(uri.endswith("/auth/callback") and "*" not in uri for uri in pages["redirectUris"])
    # the same audience and scope mappers: a page's token is a Principal exactly as an API token is
    assert pages["protocolMappers"] == client("jumelage-portal")["protocolMappers"]
