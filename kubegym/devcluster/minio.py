"""A real S3 server for development and tests: MinIO, built once from its Go module and started on loopback.

`ensure_minio` builds ``github.com/minio/minio`` at a pinned release into the cache
outside the clone (``$KUBEGYM_CACHE`` or ``~/.cache/kubegym``), the way
`kubegym.devcluster.build` builds the control plane; a warm call only reads a
version stamp. `start` runs it on a free 127.0.0.1 port with a data folder and
generated root credentials, waits until it answers its readiness probe, and
returns an `S3Server` (endpoint and credentials); `stop` stops it. The store tests'
session fixture and ``kubegym dev-cluster up --with-s3`` call these.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kubegym import cache, errors
from kubegym.devcluster import build, processes

#: MinIO's last release the Go module proxy serves, RELEASE.2025-09-07T16-13-09Z, as the
#: pseudo-version of its commit (MinIO tags are not semver, so `go install` needs this form).
MINIO_RELEASE = "RELEASE.2025-09-07T16-13-09Z"
MINIO_VERSION = "v0.0.0-20250907161309-07c3a429bfed"
_MODULE = "github.com/minio/minio"
_STAMP = "version.json"
_NAME = "minio"
#: The file in the state folder that remembers a server's port and credentials, so a
#: restart over the same data folder comes back at the same endpoint.
_STATE = "minio.json"


def _progress(message: str) -> None:
    print(f"[minio build] {message}", file=sys.stderr, flush=True)


def bin_dir() -> Path:
    """``<cache>/minio/<release>``: where the built binary lives."""
    return cache.root() / "minio" / MINIO_RELEASE


def binary() -> Path:
    """The MinIO binary's path (built or not)."""
    return bin_dir() / "minio"


def is_built() -> bool:
    """Whether the pinned MinIO is in the cache."""
    try:
        stamp = json.loads((bin_dir() / _STAMP).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp.get("version") == MINIO_VERSION and binary().is_file())


def can_build() -> bool:
    """Whether MinIO is cached or Go is here to build it (tests skip otherwise)."""
    return is_built() or shutil.which("go") is not None


def ensure_minio() -> Path:
    """Build the pinned MinIO once into the cache; return the binary's path.

    A cold build downloads MinIO's module graph from the Go module proxy and compiles
    it (minutes, progress on stderr); a warm call only reads the version stamp.

    Raises:
        InfraError: Go is missing or the build failed (reason ``BuildFailed``).
    """
    if is_built():
        return binary()
    if shutil.which("go") is None:
        raise errors.InfraError("BuildFailed", "MinIO is built with Go: install Go 1.24 or newer")
    folder = bin_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _progress(f"building MinIO {MINIO_RELEASE} from {_MODULE}@{MINIO_VERSION} (minutes)")
    start = time.monotonic()
    env = build._go_env()
    # `go install pkg@version` runs outside any module, where -mod=mod is refused.
    env["GOFLAGS"] = env["GOFLAGS"].replace("-mod=mod", "").strip()
    ldflags = " ".join(
        [
            "-s -w",
            f"-X {_MODULE}/cmd.Version={_release_time()}",
            f"-X {_MODULE}/cmd.ReleaseTag={MINIO_RELEASE}",
            f"-X {_MODULE}/cmd.CommitID={MINIO_VERSION.rsplit('-', 1)[1]}",
        ]
    )
    with tempfile.TemporaryDirectory(prefix="kubegym-minio-") as tmp:
        env["GOBIN"] = tmp
        build._run(["go", "install", "-ldflags", ldflags, f"{_MODULE}@{MINIO_VERSION}"], env=env)
        shutil.move(str(Path(tmp) / "minio"), binary())
    elapsed = time.monotonic() - start
    stamp = {"version": MINIO_VERSION, "release": MINIO_RELEASE, "build_seconds": round(elapsed)}
    (folder / _STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    _progress(f"built MinIO in {elapsed:.0f}s: {binary()}")
    return binary()


def _release_time() -> str:
    """The release tag as the RFC 3339 time MinIO's `Version` expects."""
    day, clock = MINIO_RELEASE.removeprefix("RELEASE.").split("T")
    return f"{day}T{clock.rstrip('Z').replace('-', ':')}Z"


@dataclass(frozen=True)
class S3Server:
    """A running MinIO: where it listens and the root credentials it accepts."""

    endpoint: str
    """``http://127.0.0.1:PORT``."""
    access_key: str
    secret_key: str
    data_dir: Path
    state_dir: Path
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The environment variables boto3 (and `kubegym.store`) read credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }


def _read_state(state_dir: Path) -> dict[str, str] | None:
    try:
        data = json.loads((state_dir / _STATE).read_text())
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def _write_state(state_dir: Path, state: dict[str, str]) -> None:
    path = state_dir / _STATE
    tmp = path.with_name(f".{_STATE}.tmp")
    # The root credentials live here: readable by this user only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def _server(state_dir: Path, state: dict[str, str]) -> S3Server:
    return S3Server(
        endpoint=f"http://127.0.0.1:{state['port']}",
        access_key=state["access_key"],
        secret_key=state["secret_key"],
        data_dir=Path(state["data_dir"]),
        state_dir=state_dir,
    )


def start(state_dir: Path, *, timeout: float = 60.0) -> S3Server:
    """Start MinIO for ``state_dir`` (or find it running); return its endpoint and credentials.

    The first start picks a free loopback port and generates root credentials; both
    are kept in ``<state>/minio.json``, so starting again after `stop` brings the same
    server back over the same data (which is how the tests take S3 away and return it).

    Args:
        state_dir: pid file, log, credentials and ``data/`` live here.
        timeout: how long to wait for the readiness probe.

    Raises:
        InfraError: the binary is missing and cannot be built, or MinIO did not become
            ready (reason ``MinioNotReady``, with the end of its log).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    state = _read_state(state_dir)
    if state is None:
        state = {
            "port": str(processes.free_port()),
            "access_key": f"kubegym{secrets.token_hex(6)}",
            "secret_key": secrets.token_urlsafe(30),
            "data_dir": str(state_dir / "data"),
        }
        _write_state(state_dir, state)
    server = _server(state_dir, state)
    if _NAME in processes.recorded(state_dir):
        _wait_ready(server, timeout)
        return server
    exe = ensure_minio()
    server.data_dir.mkdir(parents=True, exist_ok=True)
    args = [str(exe), "server", str(server.data_dir), "--address", f"127.0.0.1:{state['port']}"]
    processes.start(
        state_dir,
        _NAME,
        [*args, "--quiet", "--anonymous"],
        env={
            "MINIO_ROOT_USER": server.access_key,
            "MINIO_ROOT_PASSWORD": server.secret_key,
            "MINIO_BROWSER": "off",  # no web console: only the S3 API, on loopback
            "MINIO_UPDATE": "off",
        },
    )
    _wait_ready(server, timeout)
    return server


def _wait_ready(server: S3Server, timeout: float) -> None:
    url = f"{server.endpoint}/minio/health/ready"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline or _NAME not in processes.recorded(server.state_dir):
            log = server.state_dir / "logs" / f"{_NAME}.log"
            tail = log.read_text(errors="replace")[-1500:] if log.is_file() else ""
            raise errors.InfraError("MinioNotReady", f"{url} did not answer 200: {tail}")
        time.sleep(0.1)


def running(state_dir: Path) -> S3Server | None:
    """The server `start` started for ``state_dir``, if it is running."""
    state = _read_state(state_dir)
    if state is None or _NAME not in processes.recorded(state_dir):
        return None
    return _server(state_dir, state)


def stop(state_dir: Path) -> bool:
    """Stop the MinIO started for ``state_dir``; its data and credentials stay.

    Returns:
        True when a running server was stopped.
    """
    return processes.stop(state_dir, _NAME)
