"""From action text to a tool call: arguments by signature, shell fallback, disabled tools, calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import base
from tests.unit.agent_tools.conftest import MakeCtx


def parsed(text: str) -> tuple[str, dict[str, str | int | None]]:
    tool, args = tools.parse_action(text)
    return tool.name, args.values


def test_arguments_follow_the_signature() -> None:
    assert parsed("open src/train.py 40") == ("open", {"path": "src/train.py", "line_number": 40})
    assert parsed("open 'my file.py'") == ("open", {"path": "my file.py", "line_number": None})
    assert parsed("search_dir 'def train' src") == (
        "search_dir",
        {"search_term": "def train", "dir": "src"},
    )
    assert parsed("goto +12") == ("goto", {"line_number": 12})


def test_a_block_argument_keeps_its_indentation() -> None:
    name, values = parsed("edit 10:12\n    if x:\n        y()\n\nend_of_edit\n")
    assert name == "edit"
    assert values == {
        "start_line": 10,
        "end_line": 12,
        "replacement_text": "    if x:\n        y()\n\n",
    }


def test_rest_of_line_arguments_take_free_text() -> None:
    assert parsed("memory_write lr 3e-4 works; 1e-3 diverges") == (
        "memory_write",
        {"text": "lr 3e-4 works; 1e-3 diverges"},
    )
    assert parsed('memory_write "quoted note"') == ("memory_write", {"text": "quoted note"})
    assert parsed("literature_search it's a query") == (
        "literature_search",
        {"query": "it's a query"},
    )


def test_anything_else_is_a_shell_command() -> None:
    assert parsed("ls -la") == ("bash", {"command": "ls -la"})
    assert parsed("opener x") == ("bash", {"command": "opener x"})
    assert parsed("  python train.py\n  --epochs 3") == (
        "bash",
        {"command": "python train.py\n  --epochs 3"},
    )


def test_a_one_line_tool_with_more_lines_is_refused() -> None:
    with pytest.raises(tools.ActionError) as caught:
        tools.parse_action("open a.py\nls")
    assert caught.value.result.exit_code == 2
    assert "one command per reply" in caught.value.result.output


def test_an_empty_action_is_refused() -> None:
    with pytest.raises(tools.ActionError) as caught:
        tools.parse_action("   \n")
    assert caught.value.result.exit_code == 2


def test_a_disabled_tool_is_refused(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(enabled=frozenset({"open", "submit"}))
    result = tools.run_action("literature_search transformers", ctx)
    assert result.exit_code == 126
    assert "`literature_search` is not available" in result.output
    assert "Available: open, submit" in result.output


def test_run_call_takes_function_calling_arguments(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "a.txt").write_text("".join(f"{n}\n" for n in range(1, 301)))
    result = tools.run_call("open", {"path": "a.txt", "line_number": "200"}, ctx)
    assert result.exit_code == 0 and ctx.state.first_line == 184
    assert tools.run_call("bash", {"command": "echo hi"}, ctx).output == "hi\n"
    assert tools.run_call("vim", {}, ctx).exit_code == 2
    bad = tools.run_call("goto", {"line_number": "x"}, ctx)
    assert bad.exit_code == 2 and "must be a whole number" in bad.output
    assert tools.run_call("goto", {"line": 3}, ctx).exit_code == 2
    assert tools.run_call("open", {}, ctx).output.startswith("Error: missing <path>.")


def test_every_result_names_its_tool(ctx: tools.ToolContext) -> None:
    assert tools.run_action("memory_read", ctx).tool == "memory_read"
    assert tools.run_action("true", ctx).tool == "bash"
    assert tools.run_action("goto x", ctx).tool == "goto"
    assert tools.run_action("goto x", ctx).exit_code == base.EXIT_USAGE
