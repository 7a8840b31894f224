"""The image registry a real node pulls from: Debian's `docker-registry` on loopback.

No registry on the internet is reachable from a development machine here, and a
kubelet gets its images the way a cluster does: by name and digest from a
registry. `ensure` starts the registry (CNCF Distribution, Debian's package
``docker-registry``) on ``config.REGISTRY`` with its storage in the cache, so
images pushed once stay for every later cluster; when a registry already
answers there (another cluster's), it is used as it is. `stop` stops only a
registry this state dir started.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from kubegym import cache, errors
from kubegym.devcluster import config, processes

#: The component name of the registry's process in the state dir.
NAME = "registry"


def storage_dir() -> Path:
    """The registry's blobs and manifests: ``<cache>/registry``, kept between clusters."""
    return cache.root() / "registry"


def answers(address: str = config.REGISTRY) -> bool:
    """Whether a registry (API v2) answers at ``host:port``."""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def ensure(state_dir: Path, address: str = config.REGISTRY, timeout: float = 30.0) -> bool:
    """Make a registry answer at ``address``; start one recorded in ``state_dir`` if none does.

    Returns:
        True when this call started it (and `stop` will stop it).

    Raises:
        InfraError: Debian's docker-registry is missing, or the registry did not start
            (``ClusterNotReady``, with its log's last lines).
    """
    if answers(address):
        return False
    binary = shutil.which("docker-registry")
    if binary is None:
        raise errors.InfraError(
            "ClusterNotReady",
            "a real node's images are served by Debian's docker-registry: "
            "apt-get install docker-registry (or `make node-deps`)",
        )
    storage = storage_dir()
    storage.mkdir(parents=True, exist_ok=True)
    conf = state_dir / "registry.yml"
    conf.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: {address}}}\n"
    )
    processes.start(state_dir, NAME, [binary, "serve", str(conf)])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(address):
            return True
        if NAME not in processes.recorded(state_dir):
            break
        time.sleep(0.1)
    log = state_dir / "logs" / f"{NAME}.log"
    tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
    processes.stop(state_dir, NAME)
    raise errors.InfraError(
        "ClusterNotReady", f"the registry did not answer at {address}: {' | '.join(tail)}"
    )


def stop(state_dir: Path) -> bool:
    """Stop the registry recorded in ``state_dir``, if this state dir started one."""
    return processes.stop(state_dir, NAME)
