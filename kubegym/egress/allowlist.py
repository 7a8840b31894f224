"""Which host names a trial may reach: `Allowlist`, and how a requested host is read.

A trial's allowlist is the union of its Task's ``spec.egress.hosts`` and its run's
``spec.sandboxEgress.hosts`` (`kubegym.api.common.Egress`). Patterns are lower-case DNS
names, ``*.domain`` (every name strictly below ``domain``, never ``domain`` itself) or
``localhost``. Matching is by name only: an address is never on an allowlist, so a request
for an IP literal is refused before anything is resolved.

Used by `kubegym.egress.proxy` for every request, and by whoever builds an identity
(`kubegym.egress.identity`). Standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kubegym.api import common

_PATTERN = re.compile(common.HOST_PATTERN)
# A requested name: the same grammar as a pattern without the wildcard. The last label
# starts with a letter, so no spelling of an address ("2130706433", "0x7f.1") is a name.
_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LOCALHOST = "localhost"
"""The one name that reaches the proxy host's own loopback, and only when listed as such."""


class HostRefused(ValueError):
    """A requested host that is not a DNS name: ``reason`` is ``ip_literal`` or ``bad_host``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def normalise(host: str) -> str:
    """The requested ``host`` as a name to match: lower case, one trailing dot dropped.

    Raises:
        HostRefused: an IP literal (``ip_literal``) or not a DNS name (``bad_host``).
    """
    text = host.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    else:
        raise HostRefused(
            "ip_literal",
            f"{text} is an IP address; the egress proxy lets through names only, never addresses",
        )
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if len(name) > 253 or not _NAME.fullmatch(name):
        raise HostRefused("bad_host", f"{text[:80]!r} is not a DNS host name")
    return name


@dataclass(frozen=True)
class Allowlist:
    """A trial's allowed host patterns, checked when made.

    Raises:
        ValueError: a pattern is not a lower-case DNS name, ``*.domain`` or ``localhost``.
    """

    patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
                raise ValueError(
                    f"egress host {pattern!r} is not a lower-case DNS name, *.domain or localhost"
                )

    @classmethod
    def union(cls, *lists: Iterable[str]) -> Allowlist:
        """The patterns of every list, once each, sorted (a Task's and its run's hosts)."""
        return cls(tuple(sorted({p for hosts in lists for p in hosts})))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def allows(self, name: str) -> bool:
        """Whether the normalised ``name`` is listed, or lies below a listed ``*.domain``."""
        for pattern in self.patterns:
            if pattern.startswith("*."):
                if name.endswith(pattern[1:]):
                    return True
            elif name == pattern:
                return True
        return False

    @property
    def names_localhost(self) -> bool:
        """Whether ``localhost`` is listed: only then may anything reach a loopback address."""
        return LOCALHOST in self.patterns

    def __str__(self) -> str:
        return ", ".join(self.patterns) if self.patterns else "(nothing)"
