"""``jumelage token`` mints development tokens only, and says so; never one of the internal role."""

from __future__ import annotations

from typer.testing import CliRunner

from eventkit.auth import decode_token
from eventkit.cli import app

SECRET = "cli-test-secret-of-at-least-32-bytes!"


def test_the_token_command_says_it_mints_development_tokens() -> None:
    help_text = CliRunner().invoke(app, ["token", "--help"]).output
    assert "DEVELOPMENT" in help_text and "OIDC_ISSUER" in help_text


def test_the_token_command_mints_a_development_token_with_a_verified_email() -> None:
    done = CliRunner().invoke(app, ["token", "--role", "school", "--scope", "0750655E", "--secret", SECRET,
                                    "--email", "prof@ac-paris.fr"])
    principal = decode_token(SECRET, done.output.strip())
    assert (principal.role.value, principal.scope, principal.email) == ("school", "0750655E", "prof@ac-paris.fr")


def test_the_token_command_refuses_the_internal_role() -> None:
    done = CliRunner().invoke(app, ["token", "--role", "system", "--scope", "*", "--secret", SECRET])
    assert done.exit_code != 0 and "system" in done.output
