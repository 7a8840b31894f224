"""The persistent shell: state carries over, exit codes and stderr come back, stdin is /dev/null."""

from __future__ import annotations

from pathlib import Path

from kubegym.sandbox.client import SandboxClient, ServerProcess
from tests.unit.sandbox.conftest import TOKEN


def test_cwd_and_exported_env_carry_over(sandbox: SandboxClient, workspace: Path) -> None:
    (workspace / "sub").mkdir()
    assert sandbox.exec("cd sub && export GREETING=hello && LOCAL=1").exit_code == 0
    result = sandbox.exec('pwd; echo "$GREETING $LOCAL"')
    assert result.output == f"{workspace}/sub\nhello 1\n"


def test_exit_codes_and_stderr(sandbox: SandboxClient) -> None:
    assert sandbox.exec("true").exit_code == 0
    assert sandbox.exec("false").exit_code == 1
    assert sandbox.exec("(exit 7)").exit_code == 7
    result = sandbox.exec("echo out; echo err >&2; ls /no/such/place")
    assert result.exit_code == 2
    assert "out\nerr\n" in result.output and "No such file or directory" in result.output
    assert sandbox.exec("echo $?").output == "2\n"  # $? survives into the next command


def test_multiline_commands_heredocs_and_syntax_errors(sandbox: SandboxClient) -> None:
    result = sandbox.exec('f() {\n  echo "f:$1"\n}\nf x\ncat <<EOF\nheredoc\nEOF')
    assert result.output == "f:x\nheredoc\n"
    assert sandbox.exec("f y").output == "f:y\n"  # functions persist too
    bad = sandbox.exec("if then")
    assert bad.exit_code == 2 and bad.output.startswith("bash: line 1: syntax error")
    assert sandbox.exec("echo 'unclosed").exit_code == 2
    assert sandbox.exec("echo fine").output == "fine\n"


def test_output_without_trailing_newline_is_kept_exactly(sandbox: SandboxClient) -> None:
    assert sandbox.exec("printf 'a\\tb'").output == "a\tb"
    assert sandbox.exec("printf '\\xff\\xfe'").output == "\ufffd\ufffd"


def test_commands_read_dev_null_not_the_control_pipe(sandbox: SandboxClient) -> None:
    result = sandbox.exec('cat; read line; echo "after:[$line]"', timeout=5)
    assert result.output == "after:[]\n" and not result.timed_out
    result = sandbox.exec("python3 -c 'import sys; print(repr(sys.stdin.read()))'", timeout=5)
    assert result.output == "''\n"
    assert sandbox.exec("echo still here").output == "still here\n"


def test_exit_restarts_the_shell_in_the_same_place(sandbox: SandboxClient, workspace: Path) -> None:
    sandbox.exec("mkdir -p a && cd a && export KEEP=yes")
    result = sandbox.exec("exit 3")
    assert result.exit_code == 3 and "the shell exited with status 3" in result.output
    assert sandbox.exec('pwd; echo "$KEEP"').output == f"{workspace}/a\nyes\n"
    sandbox.exec("unset KEEP")
    sandbox.exec("exit")
    assert sandbox.exec('echo "[${KEEP-unset}]"').output == "[unset]\n"


def test_restart_endpoint_gives_a_fresh_shell(sandbox: SandboxClient, workspace: Path) -> None:
    sandbox.exec("cd / && export GONE=1")
    sandbox.restart_session()
    assert sandbox.exec('pwd; echo "[${GONE-}]"').output == f"{workspace}\n[]\n"


def test_the_token_never_reaches_the_shell(sandbox: SandboxClient) -> None:
    result = sandbox.exec("env")
    assert result.exit_code == 0 and "PATH=" in result.output
    assert TOKEN not in result.output and "KUBEGYM_SANDBOX_TOKEN" not in result.output


def test_tcp_server_runs_commands(tcp_server: ServerProcess) -> None:
    assert tcp_server.address.startswith("http://127.0.0.1:")
    with tcp_server.client() as client:
        assert client.exec("echo over tcp").output == "over tcp\n"
        client.close()  # the next request reconnects
        assert client.exec("echo again").output == "again\n"


def test_a_deleted_working_directory_does_not_break_recovery(
    sandbox: SandboxClient, workspace: Path
) -> None:
    sandbox.exec("mkdir gone && cd gone && rmdir ../gone")
    assert sandbox.exec("exit 1").exit_code == 1
    assert sandbox.exec("pwd").output == f"{workspace}\n"
