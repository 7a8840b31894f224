"""Kubeconfig files of the development cluster's users and components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def content(server: str, ca_cert: Path, user: str, token: str) -> dict[str, Any]:
    """A kubeconfig for ``user``, authenticated by a bearer token, trusting ``ca_cert``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubegym-dev",
                "cluster": {"server": server, "certificate-authority": str(ca_cert)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "kubegym-dev", "context": {"cluster": "kubegym-dev", "user": user}}],
        "current-context": "kubegym-dev",
    }


def write(path: Path, data: dict[str, Any]) -> None:
    """Write a kubeconfig readable by its owner only (it holds a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    path.chmod(0o600)
