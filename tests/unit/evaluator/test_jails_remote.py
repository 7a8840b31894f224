"""The remote jails' plumbing: which task files travel to the jail container, and what the
jail server refuses.

The data image's eval folder (`kubegym.images.stage_data`) and the dev-cluster kubelet's
(`kubegym.devcluster.kubelet.lay_out`) carry the adapters and the starter code the
evaluator copies to the jail; the server (`kubegym.evaluator.jails.JailServer`, run here
in-process on its real socket) starts jails only from its shared folder. The attacks
through a separately started server are in ``tests/attacks/test_cluster.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegym import images
from kubegym.devcluster import kubelet
from kubegym.evaluator import jails
from tests.tasks.conftest import prepared


@pytest.mark.parametrize("how", ["data image", "dev kubelet"])
def test_the_eval_folder_carries_what_the_jail_may_be_shown(how: str, tmp_path: Path) -> None:
    """3-SAT's evaluation starts ``adapter.py`` with ``starter/solver.py``: both are in the
    eval folder (where the evaluator copies them from), beside the hidden data."""
    bundle = prepared("3-sat")
    if how == "data image":
        eval_dir = images.stage_data(bundle, tmp_path / "out") / images.EVAL_DIR
    else:
        eval_dir = tmp_path / "eval"
        kubelet.lay_out(bundle, tmp_path / "ws", eval_dir)
    assert (eval_dir / "adapter.py").read_bytes() == (bundle.root / "adapter.py").read_bytes()
    solver = bundle.root / "starter" / "solver.py"
    assert (eval_dir / "starter" / "solver.py").read_bytes() == solver.read_bytes()
    assert (eval_dir / "hidden" / "test.jsonl").is_file()


@pytest.fixture
def server() -> Iterator[jails.JailServer]:
    root = Path(tempfile.mkdtemp(prefix="kg-jt-", dir="/tmp"))
    (root / "share").mkdir()
    (root / "share" / "f1" / "task").mkdir(parents=True)
    (root / "share" / "f1" / "submission").mkdir()
    (root / "share" / "f1" / "submission" / "s.py").write_text("def f():\n    return 1\n")
    (root / "secret.txt").write_text("hidden")
    served = jails.JailServer(root / "s", root / "share", mode="process")
    served.bind()
    threading.Thread(target=served.serve_forever, daemon=True).start()
    yield served
    served.shutdown()
    shutil.rmtree(root, ignore_errors=True)


def _ask(server: jails.JailServer, message: object) -> tuple[dict[str, object], list[int]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.connect(str(server.socket_path))
        conn.sendall(json.dumps(message).encode())
        data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    return json.loads(data), fds


@pytest.mark.parametrize(
    ("start", "why"),
    [
        ({"folder": "../share", "adapter": "builtin:call", "submission": "s.py"}, "one name"),
        ({"folder": "nope", "adapter": "builtin:call", "submission": "s.py"}, "has no nope"),
        ({"folder": "f1", "adapter": "../../secret.txt", "submission": "s.py"}, "inside the task"),
        ({"folder": "f1", "adapter": "builtin:call", "submission": "../../secret.txt"}, "one name"),
        ({"folder": "f1", "adapter": "missing.py", "submission": "s.py"}, "regular file"),
    ],
)
def test_the_server_starts_jails_only_from_its_shared_folder(
    server: jails.JailServer, start: dict[str, str], why: str
) -> None:
    """A request that names anything outside the shared folder's own copies starts nothing."""
    reply, fds = _ask(server, {"start": start})
    assert fds == []
    assert why in str(reply["error"])


def test_the_server_answers_garbage_with_an_error(server: jails.JailServer) -> None:
    assert _ask(server, [1, 2])[0] == {"error": "the jail request is not a JSON object"}
    assert "start, stop or close" in str(_ask(server, {"what": 1})[0]["error"])


def test_a_started_jail_sends_three_pipes_and_is_described_as_remote(
    server: jails.JailServer,
) -> None:
    reply, fds = _ask(
        server, {"start": {"folder": "f1", "adapter": "builtin:call", "submission": "s.py"}}
    )
    try:
        assert len(fds) == 3, reply
        described = reply["describe"]
        assert isinstance(described, dict)
        assert described["server"] == "remote" and described["filtered"] is True
    finally:
        for fd in fds:
            os.close(fd)
