"""``goto``: moving the window to a line, within the file's bounds."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools


def test_goto_moves_the_window(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "f.txt").write_text("".join(f"row {n}\n" for n in range(1, 501)))
    tools.run_action("open f.txt", ctx)
    result = tools.run_action("goto 300", ctx)
    assert result.exit_code == 0
    assert ctx.state.first_line == 284
    assert "(283 more lines above)" in result.output
    assert "300:row 300" in result.output
    assert "(117 more lines below)" in result.output


def test_goto_the_first_line(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "f.txt").write_text("".join(f"row {n}\n" for n in range(1, 501)))
    tools.run_action("open f.txt 400", ctx)
    result = tools.run_action("goto 1", ctx)
    assert ctx.state.first_line == 1
    assert "more lines above" not in result.output


def test_goto_outside_the_file_is_refused(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "f.txt").write_text("a\nb\nc\n")
    tools.run_action("open f.txt", ctx)
    for line in ("0", "4"):
        result = tools.run_action(f"goto {line}", ctx)
        assert result.exit_code == 2
        assert "between 1 and 3" in result.output
        assert "Usage: goto <line_number>" in result.output


def test_goto_needs_an_open_file(ctx: tools.ToolContext) -> None:
    result = tools.run_action("goto 10", ctx)
    assert result.exit_code == 1
    assert "No file is open" in result.output
