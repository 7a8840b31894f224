"""The development cluster's egress proxy: kubegym's shared proxy as a process on loopback.

``kubegym dev-cluster up --with-egress-proxy`` starts it (`start`) beside the control plane:
``python -m kubegym.egress.service`` on two free 127.0.0.1 ports, with a fresh signing key
in a 0600 file under the state dir, and records what ``kubegym operator`` needs to use it
(`EgressServer.operator_env`: the ``KUBEGYM_EGRESS_*`` variables the chart sets). It
serves trials whose pods run as processes on this machine (``kubegym dev-cluster
kubelet``), which reach loopback; there is no NetworkPolicy to enforce there, so the pod
labels it gives select nothing. On the real node the proxy must be a pod that sandboxes'
NetworkPolicies can name: install the chart with ``egressProxy.enabled`` there
(tests/node/test_egress_proxy.py). `stop` stops it; ``kubegym dev-cluster down`` calls it.
"""

from __future__ import annotations

import json
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from kubegym.devcluster import processes

NAME: Final = "egress-proxy"
_STATE: Final = "egress.json"
_KEY: Final = "egress.key"


@dataclass(frozen=True)
class EgressServer:
    """A running development egress proxy."""

    proxy: str
    """``127.0.0.1:<port>``: where sandboxes' ``HTTP(S)_PROXY`` points."""
    records_url: str
    """``http://127.0.0.1:<port>``: the operator's records endpoint."""
    key_file: str
    """The signing key (mode 0600): only this machine's operator reads it."""
    state_dir: str

    def operator_env(self) -> dict[str, str]:
        """The variables that point ``kubegym operator`` at this proxy."""
        return {
            "KUBEGYM_EGRESS_PROXY": self.proxy,
            "KUBEGYM_EGRESS_NAMESPACE": "kube-system",
            # Processes have no pods to select: a label no pod carries.
            "KUBEGYM_EGRESS_POD_LABELS": json.dumps({"kubegym.io/dev-egress-proxy": "process"}),
            "KUBEGYM_EGRESS_RECORDS_URL": self.records_url,
            "KUBEGYM_EGRESS_KEY_FILE": self.key_file,
        }


def start(state_dir: Path, *, timeout: float = 60.0) -> EgressServer:
    """Start the proxy with a fresh key; return it once its records endpoint answers.

    Raises:
        InfraError: it did not answer within ``timeout`` (``ClusterNotReady``, its log's tail).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    key_file = state_dir / _KEY
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(secrets.token_urlsafe(48) + "\n")
    proxy_port, records_port = processes.free_port(), processes.free_port()
    server = EgressServer(
        proxy=f"127.0.0.1:{proxy_port}",
        records_url=f"http://127.0.0.1:{records_port}",
        key_file=str(key_file),
        state_dir=str(state_dir),
    )
    processes.start(
        state_dir,
        NAME,
        [sys.executable, "-m", "kubegym.egress.service", "--key-file", str(key_file),
         "--listen", server.proxy, "--records", f"127.0.0.1:{records_port}"],
    )  # fmt: skip
    processes.wait_ready("the egress proxy", lambda: _healthy(server), timeout, state_dir, log=NAME)
    (state_dir / _STATE).write_text(json.dumps(asdict(server)) + "\n")
    return server


def running(state_dir: Path) -> EgressServer | None:
    """The proxy recorded in ``state_dir``, if it runs."""
    if NAME not in processes.recorded(state_dir) or not (state_dir / _STATE).is_file():
        return None
    return EgressServer(**json.loads((state_dir / _STATE).read_text()))


def stop(state_dir: Path) -> bool:
    """Stop the proxy recorded in ``state_dir``; True when one was running."""
    stopped = processes.stop(state_dir, NAME)
    (state_dir / _STATE).unlink(missing_ok=True)
    return stopped


def _healthy(server: EgressServer) -> bool:
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(server.records_url + "/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
