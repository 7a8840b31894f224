"""``search_dir``: files under a folder that contain a term, with counts."""

from __future__ import annotations

from pathlib import Path

from kubegym.agent_runner import tools
from tests.unit.agent_tools.conftest import MakeCtx


def layout(workdir: Path) -> None:
    (workdir / "src").mkdir()
    (workdir / "src" / "train.py").write_text("lr = 0.1\nprint(lr)\n")
    (workdir / "src" / "model.py").write_text("lr_scale = 2\n")
    (workdir / "README.md").write_text("no match here\n")
    (workdir / ".git").mkdir()
    (workdir / ".git" / "config").write_text("lr lr lr\n")
    (workdir / "weights.bin").write_bytes(b"\x00lr\x00")


def test_counts_matches_per_file(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    result = tools.run_action("search_dir lr", ctx)
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f'Found 3 matches for "lr" in 2 files under {workdir}:',
        "./src/model.py (1 matches)",
        "./src/train.py (2 matches)",
        f'End of matches for "lr" in {workdir}.',
    ]


def test_a_sub_folder_and_a_quoted_term(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    result = tools.run_action('search_dir "print(lr)" src', ctx)
    assert result.exit_code == 0
    assert f'Found 1 matches for "print(lr)" in 1 files under {workdir}/src:' in result.output
    assert "./train.py (1 matches)" in result.output


def test_no_match_is_said_plainly(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    result = tools.run_action("search_dir momentum", ctx)
    assert result.exit_code == 1
    assert result.output == f'No matches found for "momentum" in {workdir}.'


def test_a_missing_folder(ctx: tools.ToolContext, workdir: Path) -> None:
    result = tools.run_action("search_dir lr nowhere", ctx)
    assert result.exit_code == 1
    assert result.output == f"Error: directory {workdir}/nowhere not found."


def test_a_bad_pattern_is_reported(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    result = tools.run_action('search_dir "[unclosed"', ctx)
    assert result.exit_code == 1
    assert "failed" in result.output and "grep:" in result.output


def test_long_results_are_capped(make_ctx: MakeCtx, workdir: Path) -> None:
    ctx = make_ctx(max_results=5)
    for n in range(12):
        (workdir / f"f{n:02d}.txt").write_text("needle\n")
    result = tools.run_action("search_dir needle", ctx)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f'Found 12 matches for "needle" in 12 files under {workdir}:'
    assert lines[1:6] == [f"./f{n:02d}.txt (1 matches)" for n in range(5)]
    assert "7 more files not shown. Narrow the search" in lines[6]


def test_a_term_that_looks_like_an_option(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "run.sh").write_text("python train.py --epochs 3\n")
    result = tools.run_action("search_dir --epochs", ctx)
    assert result.exit_code == 0, result.output
    assert "./run.sh (1 matches)" in result.output


def test_the_shell_stays_where_it_was(ctx: tools.ToolContext, workdir: Path) -> None:
    layout(workdir)
    tools.run_action("search_dir lr src", ctx)
    assert tools.run_action("pwd", ctx).output.strip() == str(workdir)
