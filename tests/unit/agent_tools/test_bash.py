"""Shell commands: anything that is not a tool runs in the sandbox; interactive ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import bash
from tests.unit.agent_tools.conftest import MakeCtx


def test_a_shell_command_runs_in_the_sandbox(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "a.txt").write_text("hello\n")
    result = tools.run_action("cat a.txt && echo done", ctx)
    assert (result.output, result.exit_code, result.tool) == ("hello\ndone\n", 0, "bash")


def test_the_exit_code_comes_through(ctx: tools.ToolContext) -> None:
    result = tools.run_action("ls no-such-folder", ctx)
    assert result.exit_code == 2
    assert "No such file" in result.output


def test_the_folder_and_variables_carry_over(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "sub").mkdir()
    tools.run_action("cd sub && export SEED=7", ctx)
    assert tools.run_action("echo $PWD $SEED", ctx).output == f"{workdir}/sub 7\n"


def test_a_multi_line_script_runs_whole(ctx: tools.ToolContext) -> None:
    result = tools.run_action("for i in 1 2; do\n  echo $i\ndone", ctx)
    assert result.output == "1\n2\n"


def test_a_command_past_its_timeout_is_killed(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(command_timeout_s=1)
    result = tools.run_action("echo started; sleep 30", ctx)
    assert result.exit_code == 124
    assert "started" in result.output
    assert "ran past its time limit after 1 seconds and was killed" in result.output


@pytest.mark.parametrize(
    ("action", "hint"),
    [
        ("vim train.py", "Use `open`, `edit`"),
        ("nano train.py", "Use `open`, `edit`"),
        ("cd src && emacs x.py", "Use `open`, `edit`"),
        ("less log.txt", "Pagers cannot run here"),
        ("cat log | more", "Pagers cannot run here"),
        ("top", "one-shot command"),
        ("python", "interactive interpreter"),
        ("python3", "interactive interpreter"),
        ("bash", "interactive interpreter"),
        ("sudo ipython", "interactive interpreter"),
        ("git commit -a", 'git commit -m "message"'),
        ("exit", "use `submit`"),
    ],
)
def test_interactive_commands_are_refused(ctx: tools.ToolContext, action: str, hint: str) -> None:
    result = tools.run_action(action, ctx)
    assert result.exit_code == 126
    assert result.output.startswith("Error: this command was not run.")
    assert hint in result.output


@pytest.mark.parametrize(
    "action",
    [
        "python train.py",
        "python -c 'print(1)'",
        "echo vim",
        "echo 'a; vim b'",
        "git commit -m 'first'",
        "git commit -am 'first'",
        "bash run.sh",
        "grep -r less .",
    ],
)
def test_non_interactive_lookalikes_pass(action: str) -> None:
    assert bash.blocked(action, tools.ToolConfig().guardrails) is None


def test_guardrails_come_from_the_config(make_ctx: MakeCtx) -> None:
    rail = tools.Guardrail(r"^rm -rf /$", "Not the root, please.")
    ctx = make_ctx(guardrails=(rail,))
    assert (
        tools.run_action("rm -rf /", ctx).output
        == "Error: this command was not run. Not the root, please."
    )
    assert tools.run_action("echo vim", ctx).exit_code == 0
