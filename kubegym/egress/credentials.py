"""Signed per-trial credentials for the cluster's shared egress proxy.

On a cluster one proxy serves every sandbox of an operator installation
(`kubegym.egress.service`). The operator (`kubegym.operator.objects.egress`) gives each
trial attempt's sandbox container a proxy URL whose user is the trial and whose password
is a `Grant` (the trial, its attempt, its allowlist, an expiry) signed with HMAC-SHA256
under a key only the operator and the proxy read (a Secret). The proxy checks the
signature before anything else (`verify`), so a sandbox can neither widen its own
allowlist nor pose as another trial without the key; the allowlist itself travels in the
credentials, so the proxy needs no API access.

Standard library only: the operator and the proxy both import it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

#: Bytes of a fresh signing key (`new_key`); a shorter key is refused (`check_key`).
KEY_BYTES: Final = 32
#: Domain separation: a grant's signature is never the admin token's, nor the other way round.
_GRANT_CONTEXT: Final = b"kubegym-egress-grant-v1\x00"
_ADMIN_CONTEXT: Final = b"kubegym-egress-admin-v1\x00"
#: A password longer than this is refused before it is decoded: the longest allowlist the
#: API allows (a task's 64 hosts and a run's 64, of 253 characters) fits, and the proxy
#: reads no unbounded header into a JSON parser.
MAX_PASSWORD: Final = 49_152
_USER = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class CredentialsError(Exception):
    """Credentials the proxy refuses: unsigned, forged, expired, malformed, or someone else's."""


@dataclass(frozen=True)
class Grant:
    """What one trial attempt's sandbox may do through the proxy.

    Attributes:
        namespace: the Trial's namespace.
        trial: the Trial's name (also the proxy user: `verify` requires they agree).
        attempt: the attempt number; each attempt gets its own credentials and records.
        hosts: the allowlist (`kubegym.api.common.HostPattern`s), sorted, no duplicates.
        expires: Unix seconds after which the credentials are refused.
    """

    namespace: str
    trial: str
    attempt: int
    hosts: tuple[str, ...]
    expires: int

    @property
    def client(self) -> str:
        """The key of this attempt's records at the proxy: ``<namespace>/<trial>/<attempt>``."""
        return client_key(self.namespace, self.trial, self.attempt)


def client_key(namespace: str, trial: str, attempt: int) -> str:
    """The key under which the proxy keeps one attempt's records (`Grant.client`)."""
    return f"{namespace}/{trial}/{attempt}"


def check_key(key: bytes) -> bytes:
    """`key` if it is long enough to sign with.

    Raises:
        CredentialsError: it is shorter than `KEY_BYTES`.
    """
    if len(key) < KEY_BYTES:
        raise CredentialsError(f"the egress key has {len(key)} bytes, fewer than {KEY_BYTES}")
    return key


def mint(key: bytes, grant: Grant) -> tuple[str, str]:
    """The proxy user and password that carry `grant`, signed with `key`."""
    if not _USER.match(grant.trial):
        raise ValueError(f"trial name {grant.trial!r} cannot be a proxy user")
    body = {
        "ns": grant.namespace,
        "trial": grant.trial,
        "attempt": grant.attempt,
        "hosts": sorted(set(grant.hosts)),
        "exp": grant.expires,
    }
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return grant.trial, f"{payload}.{_b64(_sign(key, _GRANT_CONTEXT, payload.encode()))}"


def verify(key: bytes, user: str, password: str, now: float) -> Grant:
    """The grant `password` carries, once its signature, user and expiry are checked.

    Raises:
        CredentialsError: the password is malformed or not signed with `key`, the user is
            not the grant's trial, or the grant has expired.
    """
    if len(password) > MAX_PASSWORD:
        raise CredentialsError("the proxy password is too long")
    payload, dot, signature = password.partition(".")
    if not dot:
        raise CredentialsError("the proxy password is not a kubegym grant")
    expected = _sign(key, _GRANT_CONTEXT, payload.encode())
    try:
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        raise CredentialsError("the grant's signature is not base64") from None
    # Constant time: a timing difference must not reveal how much of a forgery matched.
    if not hmac.compare_digest(expected, given):
        raise CredentialsError("the grant's signature does not match")
    try:
        body = json.loads(_unb64(payload))
        grant = Grant(
            namespace=_text(body["ns"]),
            trial=_text(body["trial"]),
            attempt=int(body["attempt"]),
            hosts=tuple(_text(h) for h in body["hosts"]),
            expires=int(body["exp"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise CredentialsError("the grant is malformed") from None
    if user != grant.trial:
        raise CredentialsError(f"user {user!r} is not the grant's trial")
    if now >= grant.expires:
        raise CredentialsError(f"the grant of {grant.client} has expired")
    return grant


def parse_basic(header: str) -> tuple[str, str]:
    """The user and password of a ``Proxy-Authorization: Basic …`` header's value.

    Raises:
        CredentialsError: not Basic, or not base64 of ``user:password``.
    """
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise CredentialsError("proxy credentials must be Basic")
    if len(token) > 2 * MAX_PASSWORD:
        raise CredentialsError("the proxy credentials are too long")
    try:
        text = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialsError("the proxy credentials are not base64") from None
    user, colon, password = text.partition(":")
    if not colon:
        raise CredentialsError("the proxy credentials have no password")
    return user, password


def proxy_url(host: str, port: int, user: str, password: str) -> str:
    """``http://user:password@host:port``, the value of a sandbox's ``HTTPS_PROXY``."""
    return f"http://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}"


def admin_token(key: bytes) -> str:
    """The bearer token of the proxy's records endpoint (the operator's, derived from the key)."""
    return _b64(_sign(key, _ADMIN_CONTEXT, b"records"))


def _sign(key: bytes, context: bytes, message: bytes) -> bytes:
    return hmac.new(key, context + message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value
