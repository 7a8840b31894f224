"""The mlgym preset's editor: open, goto, scroll and create place the 1,000-line window as MLGym's
``defaults.sh`` does and answer in its words.

The expected windows were worked out from MLGym's arithmetic (the middle line ``CURRENT_LINE``:
``open``/``goto`` put it at ``line + 500 - 166``, a scroll moves it by 998, ``_constrain_line``
keeps it within 500 of either end) and checked against MLGym's own scripts.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import mlgym_editor

TOTAL = 2600  # short lines: under MLGym's 20,000 characters for `open <file> <line>`


@pytest.fixture
def numbers(workdir: Path) -> Path:
    path = workdir / "numbers.py"
    path.write_text("".join(f"{n}\n" for n in range(1, TOTAL + 1)))
    assert path.stat().st_size < mlgym_editor.OPEN_CHAR_LIMIT
    return path


def window(path: Path, first: int, last: int, total: int = TOTAL) -> str:
    text = [f"[File: {path} ({total} lines total)]"]
    if first > 1:
        text.append(f"({first - 1} more lines above)")
    text += [f"{n}:{n}" for n in range(first, last + 1)]
    if last < total:
        text.append(f"({total - last} more lines below)")
    return "\n".join(text)


def run(action: str, ctx: tools.ToolContext) -> tools.ToolResult:
    return tools.run_action(action, ctx)


def test_open_goto_and_scroll_move_the_window_as_mlgym_s(
    mlgym: tools.ToolContext, numbers: Path
) -> None:
    assert run(f"open {numbers}", mlgym).output == window(numbers, 1, 1000)
    assert run("goto 1000", mlgym).output == window(numbers, 835, 1834)  # 1000 is 166th
    assert run("scroll_down", mlgym).output == window(numbers, 1601, 2600)  # held at the end
    assert run("scroll_up", mlgym).output == window(numbers, 603, 1602)
    third = run("scroll_up", mlgym).output
    assert third == window(numbers, 1, 1000) + mlgym_editor.SCROLL_WARNING
    assert "WARNING: Scrolling many times in a row is very inefficient." in third
    assert run(f"open {numbers} 2000", mlgym).output == window(numbers, 1601, 2600)
    assert mlgym.state.current_line == 2100 and mlgym.state.first_line == 1601


def test_open_with_a_line_past_the_end_warns_in_mlgym_s_words(
    mlgym: tools.ToolContext, numbers: Path
) -> None:
    result = run(f"open {numbers} 9999", mlgym)
    assert result.output == (
        f"Warning: <line_number> (9999) is greater than the number of lines in the file "
        f"({TOTAL})\nWarning: Setting <line_number> to {TOTAL}\n" + window(numbers, 1601, 2600)
    )
    result = run(f"open {numbers} 0", mlgym)
    assert result.output == (
        "Warning: <line_number> (0) is less than 1\nWarning: Setting <line_number> to 1\n"
        + window(numbers, 1, 1000)
    )


def test_open_at_a_line_refuses_a_file_over_20000_characters(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    big = workdir / "big.py"
    big.write_text("x = 1  # padding to make the file large\n" * 600)
    result = run(f"open {big} 10", mlgym)
    assert (result.output, result.exit_code) == (
        "The file is larger than 20000 characters, please use 'head -n NUM_LINES' to open it",
        1,
    )
    assert mlgym.state.open_file is None
    assert run(f"open {big}", mlgym).ok  # without a line number, MLGym opens it


def test_goto_past_the_end_and_tools_without_an_open_file(
    mlgym: tools.ToolContext, numbers: Path
) -> None:
    assert run("scroll_down", mlgym).output == "No file open. Use the open command first."
    assert run("goto 3", mlgym).output == "No file open. Use the open command first."
    edit = run("edit 1:1\nx = 1\nend_of_edit", mlgym)
    assert edit.output == "No file open. Use the `open` command first."
    run(f"open {numbers}", mlgym)
    result = run("goto 2601", mlgym)
    assert result.output == f"Error: <line> must be less than or equal to {TOTAL}"
    assert mlgym.state.current_line == 500  # unmoved


def test_create_writes_one_empty_line_and_opens_it(mlgym: tools.ToolContext, workdir: Path) -> None:
    result = run("create new.py", mlgym)
    path = workdir / "new.py"
    assert (result.output, result.exit_code) == (f"[File: {path} (1 lines total)]\n1:", 0)
    assert path.read_bytes() == b"\n"
    path.write_text("a = 1\n")
    again = run(f"create {shlex.quote('new.py')}", mlgym)
    assert again.exit_code == 1
    assert (
        again.output
        == f"Error: File 'new.py' already exists.\n[File: {path} (1 lines total)]\n1:a = 1"
    )
    assert path.read_text() == "a = 1\n"


def test_an_edit_that_empties_a_file_leaves_one_empty_line(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    path = workdir / "two.py"
    path.write_text("a = 1\nb = 2\n")
    run(f"open {path}", mlgym)
    result = run("edit 1:2\nend_of_edit", mlgym)
    assert result.output.startswith(f"[File: {path} (1 lines total)]\n1:\nFile updated.")
    assert path.read_bytes() == b"\n"  # MLGym's printf "%s\n" of no lines


def test_kubegym_s_editor_is_unchanged(ctx: tools.ToolContext, numbers: Path) -> None:
    text = run(f"open {numbers} 1000", ctx).output
    assert text.startswith(
        f"[File: {numbers} ({TOTAL} lines total)]\n(983 more lines above)\n984:984"
    )
    assert len(text.splitlines()) == 100 + 3  # kubegym's 100-line window


PNG_HEAD = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00"
)


@pytest.mark.parametrize(
    ("name", "make", "answer"),
    [
        (
            "sub",
            lambda p: p.mkdir(),
            "Error: sub is a directory. You can only open files. Use cd or ls to navigate directories.",
        ),
        ("nosuch.py", lambda p: None, "File nosuch.py not found"),
        (
            "pic.png",
            lambda p: p.write_bytes(PNG_HEAD),
            "Error: pic.png is an image file. Current environment does not support image viewing.",
        ),
        (
            "pic.svg",
            lambda p: p.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n'),
            "Error: pic.svg is an image file. Current environment does not support image viewing.",
        ),
    ],
)
def test_open_refuses_in_mlgym_s_words(
    mlgym: tools.ToolContext, workdir: Path, name: str, make: Any, answer: str
) -> None:
    make(workdir / name)
    result = run(f"open {name}", mlgym)
    assert (result.output, result.exit_code) == (answer, 1)
    assert mlgym.state.open_file is None


def test_create_makes_no_folder(mlgym: tools.ToolContext, workdir: Path) -> None:
    result = run("create nofolder/x.py", mlgym)
    assert (result.output, result.exit_code) == (
        "bash: nofolder/x.py: No such file or directory\nFile nofolder/x.py not found",
        1,
    )
    assert not (workdir / "nofolder").exists()
