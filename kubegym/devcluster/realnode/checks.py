"""Whether this machine can run a real node, asked before anything is started: root, Debian's
packages, usable cgroup controllers, and runc able to run a container.

`probe` is called by `kubegym.devcluster.cluster.up` and `start`, ``make`` and the node
tests; `runc_problem` also by the image tests (a host that cannot start a container
builds images but runs none).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Debian's packages a node needs: binary → package.
DEBIAN_PACKAGES = {
    "containerd": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "nft": "nftables",
    "conntrack": "conntrack",
    "docker-registry": "docker-registry",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
}


def probe() -> str | None:
    """Why this machine cannot run a real node, or None when it can.

    Checks root, Debian's packages, the node's binaries (built by
    `build.ensure_node_binaries`), and that cgroup controllers are usable.
    """
    if os.geteuid() != 0:
        return "a real node runs containers: it needs root (or a container with CAP_SYS_ADMIN)"
    missing = sorted(
        {
            package
            for binary, package in DEBIAN_PACKAGES.items()
            if (shutil.which(binary) if "/" not in binary else None) is None
            and not Path(binary).exists()
        }
    )
    if missing:
        return f"Debian packages missing: apt-get install {' '.join(missing)} (or `make node-deps`)"
    return _cgroup_problem() or runc_problem()


def runc_problem() -> str | None:
    """Run a static program (Debian's ``ldconfig --version``) in a container, with runc."""
    if not Path("/sbin/ldconfig").is_file():
        return "no /sbin/ldconfig (a static program) to try runc with"
    with tempfile.TemporaryDirectory(prefix="kubegym-runc-probe-") as tmp:
        bundle = Path(tmp)
        spec = subprocess.run(
            ["runc", "spec", "--bundle", str(bundle)], capture_output=True, text=True, check=False
        )
        if spec.returncode != 0:
            return f"runc spec failed: {spec.stderr.strip()[-300:]}"
        config_path = bundle / "config.json"
        oci = json.loads(config_path.read_text())
        rootfs = bundle / "rootfs"
        for folder in ("proc", "dev"):
            (rootfs / folder).mkdir(parents=True)
        shutil.copy("/sbin/ldconfig", rootfs / "ldconfig")
        oci["root"] = {"path": str(rootfs), "readonly": True}
        oci["process"]["args"] = ["/ldconfig", "--version"]
        oci["process"]["terminal"] = False
        # Nothing mounted over the host's own folders but what a container needs to start.
        oci["mounts"] = [m for m in oci["mounts"] if m["destination"] in ("/proc", "/dev")]
        config_path.write_text(json.dumps(oci))
        name = f"kubegym-probe-{os.getpid()}"
        try:
            result = subprocess.run(
                ["runc", "--root", str(bundle / "state"), "run", "--bundle", str(bundle), name],
                capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return "runc did not run a container within 30 s"
        if result.returncode != 0:
            return f"runc cannot run a container here: {result.stderr.strip()[-300:]}"
    return None


def _cgroup_problem() -> str | None:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").is_file():
        available = set((root / "cgroup.controllers").read_text().split())
        wanted = {"cpu", "memory", "pids"}
        if not wanted <= available:
            return (
                f"cgroup v2 at {root} offers {sorted(available) or 'no controllers'}, "
                f"a kubelet needs {sorted(wanted)}"
            )
        if not os.access(root, os.W_OK):
            return f"cgroup v2 at {root} is read-only here"
        # The kubelet makes /kubepods below the root and needs the controllers enabled for it:
        # a container whose processes sit in its cgroup root cannot (EBUSY), as on many CI hosts.
        enabled = set((root / "cgroup.subtree_control").read_text().split())
        if not wanted <= enabled:
            try:
                (root / "cgroup.subtree_control").write_text(
                    " ".join(f"+{c}" for c in sorted(wanted - enabled))
                )
            except OSError as exc:
                return (
                    f"cgroup v2 at {root} cannot enable {sorted(wanted - enabled)} for "
                    f"child cgroups ({exc.strerror}): this process shares the cgroup root"
                )
        return None
    for controller in ("cpu", "memory", "pids"):
        path = root / controller
        if not path.is_dir() or not os.access(path, os.W_OK):
            return f"cgroup v1 controller {controller} is not mounted writable at {path}"
    return None
