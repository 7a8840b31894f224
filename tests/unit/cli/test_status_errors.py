"""`kubegym status` without a reachable cluster: one line naming the cause, exit 1."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml
from click.testing import CliRunner

from kubegym.cli import main


def test_no_kubeconfig_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["status", "demo", "--kubeconfig", str(tmp_path / "missing")],
        env={"HOME": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --kubeconfig: no kubeconfig to reach a cluster")
    assert "set KUBECONFIG or pass --kubeconfig" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_an_api_server_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:  # a port nothing listens on
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["status", "demo", "--kubeconfig", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the API server:"), result.stderr
    assert len(result.stderr.splitlines()) == 1
