"""One trial's egress proxy on this machine: `LocalEgress`.

The local runner starts one per trial whose allowlist is not empty. It listens on a Unix
socket in a folder of its own, which the trial's jail alone gets bound in
(`kubegym.sandbox.local.EgressRoute`), so whoever connects is that trial: the identity is
fixed (`kubegym.egress.identity.fixed`) and nothing the client says changes it. Every
request goes to the trial's ``egress.jsonl``; `LocalEgress.summary` is what its
results.json records.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from kubegym.api import results as results_api
from kubegym.egress import allowlist as allowlist_mod
from kubegym.egress import background, identity, records
from kubegym.egress import proxy as proxy_mod

SOCKET = "proxy.sock"
"""The proxy's socket's name in its folder."""


class LocalEgress:
    """A running per-trial proxy: its socket, its log, and how to stop it.

    Args:
        trial: the trial's id (every record carries it).
        allowed: the trial's allowlist (not empty).
        log: where its records go (the trial's ``egress.jsonl``); appended to.
        settings: the proxy's settings (tests allow their server's port here).

    Raises:
        ValueError: the allowlist is empty (an empty allowlist means no proxy at all).
        OSError: the socket could not be made.
    """

    def __init__(
        self,
        trial: str,
        allowed: allowlist_mod.Allowlist,
        log: Path,
        settings: proxy_mod.ProxySettings | None = None,
    ) -> None:
        if not allowed:
            raise ValueError("an empty egress allowlist needs no proxy: give the jail none")
        self.allowlist = allowed
        self.folder = Path(tempfile.mkdtemp(prefix="kubegym-egress-"))
        self.folder.chmod(0o755)  # the jail's uid (another one, when kubegym is root) connects
        self.socket = self.folder / SOCKET
        self.log = records.JsonlLog(log, allowed.patterns)
        who = identity.fixed(identity.Identity(trial, allowed))
        self._thread = background.ProxyThread(
            proxy_mod.EgressProxy(who, self.log, settings), name=f"egress-{trial}"[:15]
        )
        try:
            self._thread.serve_unix(self.socket, trial)
        except BaseException:
            self.close()
            raise

    def summary(self) -> results_api.EgressSummary:
        """The allowlist and every host asked for so far."""
        return self.log.summary()

    def close(self) -> None:
        """Stop the proxy (open tunnels end and are recorded), close the log (idempotent)."""
        try:
            self._thread.close()
        finally:
            self.log.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LocalEgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
