"""Long output is cut in the middle with a marker, and the server's memory stays bounded."""

from __future__ import annotations

from pathlib import Path

from kubegym.sandbox.client import SandboxClient, ServerProcess, start_server
from tests.unit.sandbox.conftest import TOKEN


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_huge_output_is_cut_with_a_marker_in_bounded_memory(
    server: ServerProcess, sandbox: SandboxClient
) -> None:
    sandbox.exec("echo warm-up")
    before = _peak_rss_kib(server.pid)
    result = sandbox.exec("echo FIRST; yes | head -c 50000000; echo LAST")
    assert result.exit_code == 0 and result.truncated
    assert result.output.startswith("FIRST\ny\ny\n") and result.output.endswith("y\nLAST\n")
    assert "bytes cut by kubegym: output longer than 100000 bytes" in result.output
    assert len(result.output) < 100_300
    assert _peak_rss_kib(server.pid) - before < 20_000  # far less than the 50 MB printed


def test_max_output_is_configurable_and_short_output_is_whole(
    workspace: Path, tmp_path: Path
) -> None:
    with (
        start_server(
            workspace=workspace, token=TOKEN, unix_path=tmp_path / "s.sock", max_output=20
        ) as proc,
        proc.client() as client,
    ):
        whole = client.exec("printf '%s' 0123456789")
        assert whole.output == "0123456789" and not whole.truncated
        cut = client.exec("printf '%s' abcdefghijklmnopqrstuvwxyz0123456789")
        assert cut.truncated
        assert cut.output.startswith("abcdefghij\n[... 16 bytes cut by kubegym")
        assert cut.output.endswith("...]\n0123456789")
