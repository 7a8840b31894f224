"""Signed per-trial proxy credentials: what the operator mints the proxy accepts, and no
change to them (a wider allowlist, another trial, a later expiry, another key) survives."""

from __future__ import annotations

import base64
import json

import pytest

from kubegym.egress import credentials

KEY = b"k" * 32
GRANT = credentials.Grant(
    namespace="bench",
    trial="demo-toy-gpt-s0-1a2b3c4d",
    attempt=1,
    hosts=("pypi.org", "*.huggingface.co"),
    expires=2_000,
)


def test_a_minted_grant_verifies_as_itself() -> None:
    user, password = credentials.mint(KEY, GRANT)
    assert user == GRANT.trial
    found = credentials.verify(KEY, user, password, now=1_000)
    assert found == credentials.Grant(
        namespace="bench",
        trial=GRANT.trial,
        attempt=1,
        hosts=("*.huggingface.co", "pypi.org"),
        expires=2_000,
    )
    assert found.client == "bench/demo-toy-gpt-s0-1a2b3c4d/1"


def _tampered(password: str, **changes: object) -> str:
    payload, _, signature = password.partition(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature


@pytest.mark.parametrize(
    "changes",
    [
        {"hosts": ["*.huggingface.co", "pypi.org", "evil.example"]},
        {"hosts": ["*.org"]},
        {"trial": "other-trial"},
        {"ns": "other-namespace"},
        {"attempt": 2},
        {"exp": 10**12},
    ],
)
def test_a_sandbox_cannot_change_its_grant(changes: dict[str, object]) -> None:
    """Widening the allowlist, posing as another trial or attempt, or living longer: the
    signature no longer matches."""
    user, password = credentials.mint(KEY, GRANT)
    forged = _tampered(password, **changes)
    with pytest.raises(credentials.CredentialsError, match="signature does not match"):
        credentials.verify(KEY, str(changes.get("trial", user)), forged, now=1_000)


def test_a_grant_signed_with_another_key_is_refused() -> None:
    user, password = credentials.mint(b"x" * 32, GRANT)
    with pytest.raises(credentials.CredentialsError, match="signature"):
        credentials.verify(KEY, user, password, now=1_000)


def test_another_trials_user_with_a_valid_password_is_refused() -> None:
    _, password = credentials.mint(KEY, GRANT)
    with pytest.raises(credentials.CredentialsError, match="not the grant's trial"):
        credentials.verify(KEY, "other-trial", password, now=1_000)


def test_an_expired_grant_is_refused() -> None:
    user, password = credentials.mint(KEY, GRANT)
    with pytest.raises(credentials.CredentialsError, match="expired"):
        credentials.verify(KEY, user, password, now=2_000)


@pytest.mark.parametrize(
    "password",
    ["", "no-dot", "abc.%%%", "." * 30_000, "e30.AAAA"],
)
def test_malformed_passwords_are_refused(password: str) -> None:
    with pytest.raises(credentials.CredentialsError):
        credentials.verify(KEY, GRANT.trial, password, now=1_000)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(credentials.CredentialsError, match="fewer than 32"):
        credentials.check_key(b"short")


def test_the_proxy_url_round_trips_through_basic_auth() -> None:
    user, password = credentials.mint(KEY, GRANT)
    url = credentials.proxy_url("10.96.0.10", 3128, user, password)
    assert url.startswith(f"http://{user}:") and url.endswith("@10.96.0.10:3128")
    header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert credentials.parse_basic(header) == (user, password)
    with pytest.raises(credentials.CredentialsError, match="Basic"):
        credentials.parse_basic("Bearer abc")


def test_the_admin_token_is_no_grant_signature() -> None:
    """Domain separation: the records endpoint's token cannot be passed off as a grant's
    signature, nor the other way round."""
    token = credentials.admin_token(KEY)
    assert token == credentials.admin_token(KEY) != credentials.admin_token(b"y" * 32)
    _, password = credentials.mint(KEY, GRANT)
    assert password.partition(".")[2] != token
