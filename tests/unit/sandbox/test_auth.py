"""Every request but /healthz needs the bearer token; a server without a token refuses to start."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubegym.sandbox.client import SandboxClient, SandboxError, ServerProcess, start_server
from tests.unit.sandbox.conftest import TOKEN


def _raw(
    server: ServerProcess, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], object]:
    port = int(server.address.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, dict(response.getheaders()), answer


def test_missing_or_wrong_token_is_401_and_healthz_is_open(tcp_server: ServerProcess) -> None:
    status, headers, answer = _raw(tcp_server, "POST", "/v1/exec", {}, b'{"command": "true"}')
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert answer == {
        "error": {
            "code": "unauthorized",
            "message": "send the header 'Authorization: Bearer <token>'",
            "field": None,
        }
    }
    status, _, _ = _raw(tcp_server, "POST", "/v1/exec", {"Authorization": "Bearer nope"}, b"{}")
    assert status == 401
    status, _, answer = _raw(tcp_server, "GET", "/healthz", {})
    assert status == 200 and answer == {"ok": True, "api": "v1"}
    with SandboxClient(tcp_server.address, "wrong") as client, pytest.raises(SandboxError) as error:
        client.exec("true")
    assert error.value.status == 401 and "token" in str(error.value)


def test_bad_requests_name_the_field(tcp_server: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, answer = _raw(tcp_server, "POST", "/v1/exec", auth, b"{}")
    assert status == 400 and answer["error"]["field"] == "command"  # type: ignore[index]
    status, _, answer = _raw(
        tcp_server, "POST", "/v1/exec", auth, b'{"command": "true", "timeout": -1}'
    )
    assert status == 400 and answer["error"]["field"] == "timeout"  # type: ignore[index]
    status, _, answer = _raw(tcp_server, "POST", "/v1/exec", auth, b"not json")
    assert status == 400 and answer["error"]["code"] == "bad_request"  # type: ignore[index]
    status, _, answer = _raw(
        tcp_server, "POST", "/v1/files/write", auth, b'{"path": "x", "content_b64": "%%"}'
    )
    assert status == 400 and answer["error"]["field"] == "content_b64"  # type: ignore[index]
    status, _, answer = _raw(tcp_server, "POST", "/v2/nothing", auth, b"{}")
    assert status == 404 and answer["error"]["code"] == "no_route"  # type: ignore[index]
    status, _, _ = _raw(tcp_server, "GET", "/v1/exec", auth)
    assert status == 405


def test_no_token_refuses_to_start(workspace: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBEGYM_SANDBOX_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "kubegym.sandbox", "serve", "--workspace", str(workspace)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert "--token-file" in result.stderr and "KUBEGYM_SANDBOX_TOKEN" in result.stderr


def test_token_file_is_read(workspace: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    with (
        start_server(
            workspace=workspace,
            token="from-a-file",
            token_file=token_file,
            unix_path=tmp_path / "t.sock",
        ) as server,
        server.client() as client,
    ):
        assert client.exec("echo ok").output == "ok\n"
