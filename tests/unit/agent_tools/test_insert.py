"""``insert``: adding lines after a line of the open file, with the same Python check."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools


def open_file(ctx: tools.ToolContext, workdir: Path, text: str, name: str = "m.py") -> Path:
    path = workdir / name
    path.write_text(text)
    assert tools.run_action(f"open {name}", ctx).exit_code == 0
    return path


def test_insert_after_a_line(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_file(ctx, workdir, "import os\n\nprint(os.sep)\n")
    result = tools.run_action("insert 1\nimport sys\nend_of_insert", ctx)
    assert result.exit_code == 0, result.output
    assert path.read_text() == "import os\nimport sys\n\nprint(os.sep)\n"
    assert "2:import sys" in result.output and "File updated." in result.output


def test_insert_at_the_top_and_at_the_end(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_file(ctx, workdir, "x = 1\n")
    assert tools.run_action('insert 0\n"""Doc."""\nend_of_insert', ctx).exit_code == 0
    assert tools.run_action("insert 2\ny = 2\nend_of_insert", ctx).exit_code == 0
    assert path.read_text() == '"""Doc."""\nx = 1\ny = 2\n'


def test_insert_outside_the_file_is_refused(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_file(ctx, workdir, "x = 1\n")
    for line in ("2", "-1"):
        result = tools.run_action(f"insert {line}\ny = 2\nend_of_insert", ctx)
        assert result.exit_code == 2
        assert "between 0 and 1" in result.output
        assert "Usage: insert <line_number>" in result.output
    assert path.read_text() == "x = 1\n"


def test_insert_needs_text(ctx: tools.ToolContext, workdir: Path) -> None:
    open_file(ctx, workdir, "x = 1\n")
    result = tools.run_action("insert 1\nend_of_insert", ctx)
    assert result.exit_code == 2
    assert "no text to insert" in result.output


def test_a_python_insertion_that_breaks_parsing_is_rolled_back(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    source = "def f():\n    return 1\n"
    path = open_file(ctx, workdir, source)
    result = tools.run_action("insert 1\n  x = (\nend_of_insert", ctx)
    assert result.exit_code == 1
    assert path.read_text() == source
    assert "insertion would introduce a syntax error" in result.output
    assert "This is how the insertion would have looked:" in result.output
    assert "2:  x = (" in result.output


def test_insert_into_a_text_file_is_not_checked(ctx: tools.ToolContext, workdir: Path) -> None:
    path = open_file(ctx, workdir, "a\n", name="notes.txt")
    assert tools.run_action("insert 1\n  (((\nend_of_insert", ctx).exit_code == 0
    assert path.read_text() == "a\n  (((\n"
