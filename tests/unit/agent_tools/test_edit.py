"""``edit``: replacing line ranges of the open file; Python edits that break parsing are refused."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools

SOURCE = """\
def train(epochs):
    total = 0
    for epoch in range(epochs):
        total += epoch
    return total


print(train(3))
"""


def open_source(ctx: tools.ToolContext, workdir: Path, name: str = "train.py") -> Path:
    path = workdir / name
    path.write_text(SOURCE)
    assert tools.run_action(f"open {name}", ctx).exit_code == 0
    return path


def test_edit_replaces_a_range(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_source(ctx, workdir)
    result = tools.run_action("edit 2:4\n    total = sum(range(epochs))\nend_of_edit", ctx)
    assert result.exit_code == 0, result.output
    assert path.read_text().splitlines()[:3] == [
        "def train(epochs):",
        "    total = sum(range(epochs))",
        "    return total",
    ]
    assert "File updated." in result.output
    assert "2:    total = sum(range(epochs))" in result.output
    assert "(6 lines total)" in result.output


def test_edit_can_grow_the_file_and_keeps_indentation(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    path = open_source(ctx, workdir)
    action = (
        "edit 4:4\n        total += epoch\n        if total > 100:\n            break\nend_of_edit"
    )
    assert tools.run_action(action, ctx).exit_code == 0
    assert path.read_text().splitlines()[3:6] == [
        "        total += epoch",
        "        if total > 100:",
        "            break",
    ]


def test_an_empty_replacement_deletes_the_lines(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_source(ctx, workdir)
    assert tools.run_action("edit 6:8\nend_of_edit", ctx).exit_code == 0
    assert path.read_text() == "".join(SOURCE.splitlines(keepends=True)[:5])


def test_blank_lines_in_the_text_are_kept(ctx: tools.ToolContext, workdir: Path) -> None:
    path = workdir / "notes.txt"
    path.write_text("a\nb\n")
    tools.run_action("open notes.txt", ctx)
    assert tools.run_action("edit 1:1\n\nend_of_edit", ctx).exit_code == 0
    assert path.read_text() == "\nb\n"


def test_the_first_edit_of_a_created_file(ctx: tools.ToolContext, workdir: Path) -> None:
    tools.run_action("create notes.md", ctx)
    assert tools.run_action("edit 1:1\n# Notes\nend_of_edit", ctx).exit_code == 0
    assert (workdir / "notes.md").read_text() == "# Notes\n"


def test_a_forgotten_end_line_still_edits(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_source(ctx, workdir)
    assert tools.run_action("edit 8:8\nprint(train(4))", ctx).exit_code == 0
    assert path.read_text().splitlines()[-1] == "print(train(4))"


def test_text_after_the_end_line_is_refused(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_source(ctx, workdir)
    result = tools.run_action("edit 8:8\nprint(1)\nend_of_edit\nls", ctx)
    assert result.exit_code == 2
    assert "one command per reply" in result.output
    assert path.read_text() == SOURCE


def test_invalid_ranges_are_refused(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_source(ctx, workdir)
    for action, problem in [
        ("edit 5:3\nx\nend_of_edit", "the range 5:3 is invalid"),
        ("edit 0:2\nx\nend_of_edit", "the range 0:2 is invalid"),
        ("edit 7:12\nx\nend_of_edit", "end_line 12 is past the end"),
        ("edit 3\nx\nend_of_edit", "expected <start_line>:<end_line>, got '3'"),
        ("edit a:b\nx\nend_of_edit", "<start_line> must be a whole number"),
        ("edit\nx\nend_of_edit", "missing <start_line>:<end_line>"),
    ]:
        result = tools.run_action(action, ctx)
        assert result.exit_code == 2, action
        assert problem in result.output, (action, result.output)
        assert "Usage: edit <start_line>:<end_line>" in result.output
    assert path.read_text() == SOURCE


def test_a_python_edit_that_breaks_parsing_is_rolled_back(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    path = open_source(ctx, workdir)
    before = path.stat().st_mtime_ns
    result = tools.run_action(
        "edit 3:4\n    for epoch in range(epochs)\n    total += epoch\nend_of_edit", ctx
    )
    assert result.exit_code == 1
    assert path.read_text() == SOURCE
    assert path.stat().st_mtime_ns == before
    output = result.output
    assert "NOT applied" in output and "unchanged" in output
    assert "SyntaxError: expected ':' (line 3" in output
    assert "This is how the edit would have looked:" in output
    assert "3:    for epoch in range(epochs)\n" in output  # the would-be lines, numbered
    assert "NOT saved" in output
    assert "This is the original code:" in output
    assert "3:    for epoch in range(epochs):" in output


def test_an_indentation_error_is_rolled_back(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_source(ctx, workdir)
    result = tools.run_action("edit 5:5\n  return total\nend_of_edit", ctx)
    assert result.exit_code == 1
    assert "IndentationError" in result.output or "SyntaxError" in result.output
    assert path.read_text() == SOURCE


def test_a_file_that_was_already_broken_may_be_edited(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    path = workdir / "broken.py"
    path.write_text("def f(:\n    pass\nx = (\n")
    tools.run_action("open broken.py", ctx)
    result = tools.run_action("edit 1:1\ndef f():\nend_of_edit", ctx)
    assert result.exit_code == 0
    assert path.read_text().startswith("def f():\n")
    assert "still does not parse" in result.output


def test_non_python_files_are_not_checked(ctx: tools.ToolContext, workdir: Path) -> None:
    path = workdir / "config.yaml"
    path.write_text("lr: 0.1\n")
    tools.run_action("open config.yaml", ctx)
    assert tools.run_action("edit 1:1\nlr: (\nend_of_edit", ctx).exit_code == 0
    assert path.read_text() == "lr: (\n"


def test_edit_needs_an_open_file(ctx: tools.ToolContext) -> None:
    result = tools.run_action("edit 1:1\nx\nend_of_edit", ctx)
    assert result.exit_code == 1
    assert "No file is open" in result.output


def test_a_read_only_file_is_reported(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_source(ctx, workdir)
    workdir.chmod(0o555)
    path.chmod(0o444)
    try:
        result = tools.run_action("edit 8:8\nprint(0)\nend_of_edit", ctx)
    finally:
        workdir.chmod(0o755)
        path.chmod(0o644)
    if result.exit_code == 0:  # running as root: permissions do not bind
        return
    assert result.exit_code == 1
    assert "read-only" in result.output or "Cannot write" in result.output
