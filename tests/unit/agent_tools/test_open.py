"""``open``: the window, its header and line numbers, and bad paths."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools


def numbered(count: int) -> str:
    return "".join(f"line {n}\n" for n in range(1, count + 1))


def test_open_shows_the_first_window_with_line_numbers(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    (workdir / "long.txt").write_text(numbered(250))
    result = tools.run_action("open long.txt", ctx)
    assert result.exit_code == 0 and result.tool == "open"
    lines = result.output.splitlines()
    assert lines[0] == f"[File: {workdir}/long.txt (250 lines total)]"
    assert lines[1] == "1:line 1"
    assert lines[100] == "100:line 100"
    assert lines[101] == "(150 more lines below)"
    assert "more lines above" not in result.output
    assert ctx.state.open_file == f"{workdir}/long.txt"
    assert ctx.state.first_line == 1


def test_open_at_a_line_puts_it_in_view(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "long.txt").write_text(numbered(250))
    result = tools.run_action("open long.txt 120", ctx)
    assert result.exit_code == 0
    assert "(103 more lines above)" in result.output  # the line sits a sixth of the way down
    assert "104:line 104" in result.output and "120:line 120" in result.output
    assert "(47 more lines below)" in result.output


def test_open_near_the_end_keeps_a_full_window(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "long.txt").write_text(numbered(250))
    result = tools.run_action("open long.txt 245", ctx)
    assert "(150 more lines above)" in result.output
    assert result.output.splitlines()[-1] == "250:line 250"


def test_open_past_the_end_warns_and_shows_the_end(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "short.txt").write_text(numbered(5))
    result = tools.run_action("open short.txt 40", ctx)
    assert result.exit_code == 0
    assert result.output.startswith("Warning: line 40 is past the end of the file (5 lines)")
    assert "5:line 5" in result.output


def test_a_short_file_has_no_beyond_markers(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "short.txt").write_text(numbered(3))
    output = tools.run_action("open short.txt", ctx).output
    assert "more lines" not in output
    assert output.splitlines()[1:] == ["1:line 1", "2:line 2", "3:line 3"]


def test_paths_are_taken_from_the_shells_folder(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "src").mkdir()
    (workdir / "src" / "model.py").write_text("x = 1\n")
    tools.run_action("cd src", ctx)
    result = tools.run_action("open model.py", ctx)
    assert result.exit_code == 0
    assert ctx.state.open_file == f"{workdir}/src/model.py"


def test_quoted_paths_with_spaces(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "my notes.txt").write_text("hello\n")
    result = tools.run_action('open "my notes.txt"', ctx)
    assert result.exit_code == 0
    assert "1:hello" in result.output


def test_a_missing_file_fails_plainly(ctx: tools.ToolContext, workdir: Path) -> None:
    result = tools.run_action("open nope.py", ctx)
    assert result.exit_code == 1
    assert result.output == f"File {workdir}/nope.py not found."
    assert ctx.state.open_file is None


def test_a_folder_cannot_be_opened(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "data").mkdir()
    result = tools.run_action("open data", ctx)
    assert result.exit_code == 1
    assert "is a directory" in result.output


def test_a_binary_file_is_refused(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "model.pt").write_bytes(b"\x80\x02\x00\x00binary")
    result = tools.run_action("open model.pt", ctx)
    assert result.exit_code == 1
    assert "binary file" in result.output


def test_an_empty_file_says_so(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "empty.txt").write_text("")
    result = tools.run_action("open empty.txt", ctx)
    assert result.exit_code == 0
    assert "(0 lines total)" in result.output and "(this file is empty)" in result.output


def test_usage_on_bad_arguments(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "a.txt").write_text("a\n")
    for action, problem in [
        ("open", "missing <path>"),
        ("open a.txt ten", "<line_number> must be a whole number, got 'ten'"),
        ("open a.txt 1 2", "too many arguments (2)"),
        ('open "a.txt', "a quote is not closed"),
    ]:
        result = tools.run_action(action, ctx)
        assert result.exit_code == 2, action
        assert problem in result.output, (action, result.output)
        assert result.output.endswith("Usage: open <path> [<line_number>]")


def test_a_home_relative_path(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "notes.txt").write_text("home\n")
    old_home = tools.run_action('printf "%s" "$HOME"', ctx).output
    tools.run_action(f"export HOME={workdir}", ctx)
    try:
        result = tools.run_action("open ~/notes.txt", ctx)
    finally:
        tools.run_action(f"export HOME={old_home}", ctx)
    assert result.exit_code == 0
    assert ctx.state.open_file == f"{workdir}/notes.txt"
