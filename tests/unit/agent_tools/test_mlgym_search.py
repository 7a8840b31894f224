"""The mlgym preset's searches answer as MLGym's ``search.sh``: absolute paths, its counts and
limits, its words (checked against MLGym's own functions on the same folders)."""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import pytest

from kubegym.agent_runner import tools
from kubegym.sandbox import client


@pytest.fixture
def tree(workdir: Path) -> Path:
    (workdir / "a.py").write_text("needle one\nhay\nneedle two\n")
    (workdir / "sub").mkdir()
    (workdir / "sub" / "b.py").write_text("a needle\n")
    (workdir / ".hidden").mkdir()
    (workdir / ".hidden" / "c.py").write_text("needle\n")  # MLGym skips hidden paths
    return workdir


def run(action: str, ctx: tools.ToolContext) -> tools.ToolResult:
    return tools.run_action(action, ctx)


def test_search_dir_lists_files_with_their_counts(mlgym: tools.ToolContext, tree: Path) -> None:
    result = run("search_dir needle", mlgym)
    assert (result.output, result.exit_code) == (
        f'Found 3 matches for "needle" in {tree}:\n'
        f"{tree}/a.py (2 matches)\n"
        f"{tree}/sub/b.py (1 matches)\n"
        f'End of matches for "needle" in {tree}',
        0,
    )
    result = run("search_dir needle sub", mlgym)
    assert result.output.splitlines()[1] == f"{tree}/sub/b.py (1 matches)"
    result = run("search_dir zzz", mlgym)
    assert (result.output, result.exit_code) == (f'No matches found for "zzz" in {tree}', 1)
    assert run("search_dir needle nosuch", mlgym).output == "Directory nosuch not found"


def test_search_dir_refuses_more_than_100_files(mlgym: tools.ToolContext, workdir: Path) -> None:
    many = workdir / "many"
    many.mkdir()
    for number in range(101):
        (many / f"f{number}.txt").write_text("k\n")
    result = run("search_dir k many", mlgym)
    assert (result.output, result.exit_code) == (
        f'More than 101 files matched for "k" in {many}. Please narrow your search.',
        1,
    )


def test_search_file_lists_lines_of_the_open_file_or_a_named_one(
    mlgym: tools.ToolContext, tree: Path
) -> None:
    assert run("search_file needle", mlgym).output == "No file open. Use the open command first."
    run("open a.py", mlgym)
    result = run("search_file needle", mlgym)
    assert result.output == (
        f'Found 2 matches for "needle" in {tree}/a.py:\n'
        "Line 1:needle one\n"
        "Line 3:needle two\n"
        f'End of matches for "needle" in {tree}/a.py'
    )
    assert run("search_file needle sub/b.py", mlgym).output.splitlines()[1] == "Line 1:a needle"
    assert run("search_file zzz", mlgym).output == f'No matches found for "zzz" in {tree}/a.py'
    assert run("search_file needle nosuch.py", mlgym).output == (
        "Usage: search_file <search_term> [<file>]\n"
        "Error: File name nosuch.py not found. Please provide a valid file name."
    )


def test_find_file_gives_absolute_paths(mlgym: tools.ToolContext, tree: Path) -> None:
    result = run("find_file b.py", mlgym)
    assert (result.output, result.exit_code) == (
        f'Found 1 matches for "b.py" in {tree}:\n{tree}/sub/b.py',
        0,
    )
    found = run("find_file '*.py'", mlgym).output.splitlines()
    assert found[0] == f'Found 3 matches for "*.py" in {tree}:'
    assert sorted(found[1:]) == [f"{tree}/.hidden/c.py", f"{tree}/a.py", f"{tree}/sub/b.py"]
    assert run("find_file x.py nosuch", mlgym).output == "Directory nosuch not found"
    assert run("find_file zzz.py", mlgym).output == f'No matches found for "zzz.py" in {tree}'


def test_a_search_runs_under_the_preset_s_timeout_rule(
    sandbox: client.SandboxClient, workdir: Path
) -> None:
    # A backreference pattern makes grep backtrack for many seconds over one line of a and b.
    (workdir / "ab.txt").write_text("".join(random.Random(1).choice("ab") for _ in range(3000)))
    config = dataclasses.replace(tools.ToolConfig.for_preset("mlgym"), short_command_timeout_s=1)
    ctx = tools.ToolContext(sandbox=sandbox, state=tools.ToolState(), config=config)
    start = time.monotonic()
    result = tools.run_action(r"search_file '^\(.*\)\(.*\)\(.*\)\3\2\1\3$' ab.txt", ctx)
    assert (result.output, result.exit_code) == (
        "\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 1 SECONDS.",
        124,
    )
    assert time.monotonic() - start < 5
    assert tools.run_action("echo alive", ctx).output == "alive\n"
