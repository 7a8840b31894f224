"""``scroll_down`` and ``scroll_up``: pages with overlap, the file's ends, the streak warning."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools
from tests.unit.agent_tools.conftest import MakeCtx


def open_rows(ctx: tools.ToolContext, workdir: Path, count: int) -> None:
    (workdir / "f.txt").write_text("".join(f"row {n}\n" for n in range(1, count + 1)))
    assert tools.run_action("open f.txt", ctx).exit_code == 0


def test_scroll_down_keeps_two_lines_of_overlap(ctx: tools.ToolContext, workdir: Path) -> None:
    open_rows(ctx, workdir, 250)
    result = tools.run_action("scroll_down", ctx)
    assert result.exit_code == 0
    assert ctx.state.first_line == 99
    assert "(98 more lines above)" in result.output
    assert "(52 more lines below)" in result.output


def test_scroll_down_stops_at_the_end(ctx: tools.ToolContext, workdir: Path) -> None:
    open_rows(ctx, workdir, 250)
    tools.run_action("scroll_down", ctx)
    tools.run_action("scroll_down", ctx)
    assert ctx.state.first_line == 151
    result = tools.run_action("scroll_down", ctx)
    assert ctx.state.first_line == 151
    assert "250:row 250" in result.output
    assert "(Already at the end of the file.)" in result.output


def test_scroll_up_stops_at_the_top(ctx: tools.ToolContext, workdir: Path) -> None:
    open_rows(ctx, workdir, 250)
    tools.run_action("goto 150", ctx)
    tools.run_action("scroll_up", ctx)
    assert ctx.state.first_line == 36  # 150 - 100 // 6 - (100 - 2)
    result = tools.run_action("scroll_up", ctx)
    assert ctx.state.first_line == 1
    assert "more lines above" not in result.output
    result = tools.run_action("scroll_up", ctx)
    assert "(Already at the top of the file.)" in result.output


def test_a_small_file_does_not_move(ctx: tools.ToolContext, workdir: Path) -> None:
    open_rows(ctx, workdir, 10)
    result = tools.run_action("scroll_down", ctx)
    assert ctx.state.first_line == 1
    assert "(Already at the end of the file.)" in result.output


def test_many_scrolls_in_a_row_bring_a_warning(ctx: tools.ToolContext, workdir: Path) -> None:
    open_rows(ctx, workdir, 1000)
    outputs = [tools.run_action("scroll_down", ctx).output for _ in range(3)]
    assert "Warning: scrolling many times" not in outputs[0] + outputs[1]
    assert "search_file" in outputs[2]
    tools.run_action("goto 1", ctx)  # any other command ends the streak
    assert "Warning" not in tools.run_action("scroll_down", ctx).output


def test_a_smaller_window_from_the_config(make_ctx: MakeCtx, workdir: Path) -> None:
    ctx = make_ctx(window=10)
    open_rows(ctx, workdir, 30)
    result = tools.run_action("scroll_down", ctx)
    assert ctx.state.first_line == 9
    assert result.output.splitlines()[1:] == [
        "(8 more lines above)",
        *[f"{n}:row {n}" for n in range(9, 19)],
        "(12 more lines below)",
    ]


def test_scrolling_needs_an_open_file(ctx: tools.ToolContext) -> None:
    for action in ("scroll_up", "scroll_down"):
        result = tools.run_action(action, ctx)
        assert result.exit_code == 1
        assert "No file is open" in result.output


def test_scroll_takes_no_arguments(ctx: tools.ToolContext) -> None:
    result = tools.run_action("scroll_down 5", ctx)
    assert result.exit_code == 2
    assert "Usage: scroll_down" in result.output
