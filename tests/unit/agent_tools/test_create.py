"""``create``: a new empty file, opened; never over an existing one."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools


def test_create_makes_an_empty_file_and_opens_it(ctx: tools.ToolContext, workdir: Path) -> None:
    result = tools.run_action("create train.py", ctx)
    assert result.exit_code == 0
    assert (workdir / "train.py").read_bytes() == b""
    assert ctx.state.open_file == f"{workdir}/train.py"
    assert f"[File: {workdir}/train.py (0 lines total)]" in result.output


def test_create_makes_parent_folders(ctx: tools.ToolContext, workdir: Path) -> None:
    assert tools.run_action("create src/models/net.py", ctx).exit_code == 0
    assert (workdir / "src" / "models" / "net.py").is_file()


def test_create_then_insert_fills_the_file(ctx: tools.ToolContext, workdir: Path) -> None:
    tools.run_action("create hello.py", ctx)
    result = tools.run_action('insert 0\nprint("hello")\nend_of_insert', ctx)
    assert result.exit_code == 0, result.output
    assert (workdir / "hello.py").read_text() == 'print("hello")\n'


def test_create_refuses_an_existing_file(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "train.py").write_text("keep me\n")
    result = tools.run_action("create train.py", ctx)
    assert result.exit_code == 1
    assert "already exists" in result.output and "open" in result.output
    assert (workdir / "train.py").read_text() == "keep me\n"
    assert ctx.state.open_file is None


def test_create_refuses_an_existing_folder(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "data").mkdir()
    assert tools.run_action("create data", ctx).exit_code == 1


def test_create_needs_a_name(ctx: tools.ToolContext) -> None:
    result = tools.run_action("create", ctx)
    assert result.exit_code == 2
    assert "Usage: create <filename>" in result.output
