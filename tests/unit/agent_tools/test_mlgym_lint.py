"""The mlgym preset's edit and insert: flake8 with MLGym's codes, new errors refused, MLGym's words.

A real sandbox server holds the files; flake8 runs as the preset runs it. The attacks: a syntax
error leaves the file byte for byte as it was, and neither a flake8 configuration planted in the
workspace nor a fake ``flake8`` on the sandbox's PATH switches the lint off.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import lint

SOURCE = "import os\n\n\ndef f(a):\n    return a + 1\n\n\nprint(f(2))\n"
RULE = "-" * 49


def opened(ctx: tools.ToolContext, path: Path, text: str = SOURCE) -> Path:
    path.write_text(text)
    assert tools.run_action(f"open {shlex.quote(str(path))}", ctx).ok
    return path


def test_an_edit_with_an_undefined_name_is_refused_in_mlgym_words(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    path = opened(mlgym, workdir / "train.py")
    result = tools.run_action("edit 5:5\n    return a + b\nend_of_edit", mlgym)
    assert result.exit_code == 1 and result.tool == "edit"
    assert path.read_text() == SOURCE
    assert result.output == "\n".join(
        [
            "Your proposed edit has introduced new syntax error(s). Please read this error "
            "message carefully and then retry editing the file.",
            "",
            "ERRORS:",
            "- F821 undefined name 'b'",
            "",
            "This is how your edit would have looked if applied",
            RULE,
            f"[File: {path} (8 lines total)]",
            *[
                f"{n}:{line}"
                for n, line in enumerate(SOURCE.replace("a + 1", "a + b").split("\n")[:8], 1)
            ],
            RULE,
            "",
            "This is the original code before your edit",
            RULE,
            f"[File: {path} (8 lines total)]",
            *[f"{n}:{line}" for n, line in enumerate(SOURCE.split("\n")[:8], 1)],
            RULE,
            "Your changes have NOT been applied. Please fix your edit command and try again.",
            "You either need to 1) Specify the correct start/end line arguments or 2) Correct "
            "your edit code.",
            "DO NOT re-run the same failed edit command. Running it again will lead to the same "
            "error.",
        ]
    )


def test_kubegym_s_own_check_lets_the_same_edit_through(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    # The default preset checks syntax only: the lint is the mlgym preset's, nobody else's.
    path = opened(ctx, workdir / "train.py")
    assert tools.run_action("edit 5:5\n    return a + b\nend_of_edit", ctx).ok
    assert "a + b" in path.read_text()


def test_a_syntax_error_leaves_the_file_on_disk_untouched(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    path = opened(mlgym, workdir / "train.py")
    os.utime(path, (1_000_000, 1_000_000))
    before = path.read_bytes()
    result = tools.run_action("edit 4:5\ndef f(a:\n    return a +\nend_of_edit", mlgym)
    assert result.exit_code == 1
    assert "- E999 SyntaxError:" in result.output
    assert path.read_bytes() == before
    assert path.stat().st_mtime == 1_000_000  # never written, not written back
    assert sorted(p.name for p in workdir.iterdir()) == ["train.py"]  # no backup file left


def test_bad_indentation_is_refused(mlgym: tools.ToolContext, workdir: Path) -> None:
    path = opened(mlgym, workdir / "train.py")
    result = tools.run_action("edit 4:5\ndef f(a):\n  return a\nend_of_edit", mlgym)
    assert "ERRORS:\n- E111 indentation is not a multiple of 4\n\n" in result.output
    assert path.read_text() == SOURCE


def test_errors_the_file_already_had_do_not_block_an_edit(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    broken = SOURCE + "x = undefined_thing\n" + "if True:\n  y = 1\n"
    path = opened(mlgym, workdir / "train.py", broken)
    result = tools.run_action("edit 5:5\n    return a + 2\nend_of_edit", mlgym)
    assert result.ok, result.output
    assert result.output.endswith(
        "File updated. Please review the changes and make sure they are correct (correct "
        "indentation, no duplicate lines, etc). Edit the file again if necessary."
    )
    assert path.read_text() == broken.replace("a + 1", "a + 2")


def test_an_edit_that_moves_an_old_error_down_is_accepted(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    path = opened(mlgym, workdir / "train.py", SOURCE + "x = undefined_thing\n")
    result = tools.run_action("edit 1:1\nimport os\nimport sys\nend_of_edit", mlgym)
    assert result.ok, result.output
    assert path.read_text().startswith("import os\nimport sys\n")


def test_an_insertion_above_an_old_error_is_refused_as_mlgym_refuses_it(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    # MLGym's insert hands _split_string a window as long as the text, so errors below do not
    # move and come back as new: the preset reproduces it, for comparable trials.
    path = opened(mlgym, workdir / "train.py", SOURCE + "x = undefined_thing\n")
    result = tools.run_action("insert 1\nimport sys\nend_of_insert", mlgym)
    assert result.exit_code == 1
    assert result.output.startswith(
        "Your proposed insertion has introduced new syntax error(s). Please read this error "
        "message carefully and then retry inserting into the file.\n\nERRORS:\n"
        "- F821 undefined name 'undefined_thing'\n"
    )
    assert result.output.endswith(
        "Your changes have NOT been applied. Please fix your insert command and try again.\n"
        "You either need to 1) Specify the correct line number argument or 2) Correct your "
        "insertion code.\n"
        "DO NOT re-run the same failed insert command. Running it again will lead to the same "
        "error."
    )
    assert path.read_text() == SOURCE + "x = undefined_thing\n"


def test_a_clean_insertion_is_saved_and_shown(mlgym: tools.ToolContext, workdir: Path) -> None:
    path = opened(mlgym, workdir / "train.py")
    result = tools.run_action("insert 1\nimport sys\nend_of_insert", mlgym)
    assert result.ok, result.output
    assert path.read_text() == "import os\nimport sys\n" + SOURCE[len("import os\n") :]
    assert result.output.startswith(f"[File: {path} (9 lines total)]\n1:import os\n2:import sys\n")
    assert mlgym.state.open_file == str(path) and mlgym.state.first_line == 1


def test_files_other_than_python_are_not_linted(mlgym: tools.ToolContext, workdir: Path) -> None:
    path = opened(mlgym, workdir / "notes.txt", "one\ntwo\n")
    assert tools.run_action("edit 1:1\nreturn b +\nend_of_edit", mlgym).ok
    assert path.read_text() == "return b +\ntwo\n"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("setup.cfg", "[flake8]\nselect = E501\nignore = F821,E999,E111\nexclude = *.py\n"),
        (".flake8", "[flake8]\nextend-ignore = F821,E999\ndisable-noqa = False\n"),
        ("tox.ini", "[flake8]\nselect = W\nfilename = *.nothing\n"),
    ],
)
def test_a_planted_flake8_configuration_does_not_switch_the_lint_off(
    mlgym: tools.ToolContext, workdir: Path, name: str, text: str
) -> None:
    (workdir / name).write_text(text)
    (workdir.parent / name).write_text(text)  # and in the folder above, where flake8 also looks
    try:
        path = opened(mlgym, workdir / "train.py")
        result = tools.run_action("edit 5:5\n    return a + b\nend_of_edit", mlgym)
        assert result.exit_code == 1 and "- F821 undefined name 'b'" in result.output
        assert path.read_text() == SOURCE
    finally:
        (workdir.parent / name).unlink()


def test_a_fake_flake8_on_the_sandbox_path_is_never_run(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    fake = workdir / "bin" / "flake8"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")  # "no errors", whatever the file
    fake.chmod(0o755)
    assert tools.run_action(
        f"export PATH={fake.parent}:$PATH && which flake8", mlgym
    ).output.strip() == str(fake)
    path = opened(mlgym, workdir / "train.py")
    result = tools.run_action("edit 5:5\n    return a +\nend_of_edit", mlgym)
    assert result.exit_code == 1 and "- E999 SyntaxError" in result.output
    assert path.read_text() == SOURCE


def test_a_lint_that_gives_no_verdict_changes_nothing(
    mlgym: tools.ToolContext, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lint, "TIMEOUT_S", 0.001)  # flake8 cannot start in a millisecond
    path = opened(mlgym, workdir / "train.py")
    result = tools.run_action("edit 5:5\n    return a + 2\nend_of_edit", mlgym)
    assert result.exit_code == 1
    assert result.output.startswith("Error: the linter could not check your edit (flake8 took more")
    assert f"It was NOT applied; {path} is unchanged." in result.output
    assert path.read_text() == SOURCE


def test_the_lint_sees_the_file_s_text_whatever_its_name(
    mlgym: tools.ToolContext, workdir: Path
) -> None:
    # The two versions are linted under fixed names in a private folder: a name with colons
    # or spaces neither breaks the parse of flake8's output nor hides an error.
    path = opened(mlgym, workdir / "a: b:1:2 c.py")
    result = tools.run_action("edit 5:5\n    return a + b\nend_of_edit", mlgym)
    assert result.exit_code == 1 and "- F821 undefined name 'b'" in result.output
    assert path.read_text() == SOURCE


def test_an_edit_without_its_end_line_is_turned_away_in_mlgym_words(
    mlgym: tools.ToolContext, ctx: tools.ToolContext, workdir: Path
) -> None:
    path = opened(mlgym, workdir / "train.py")
    result = tools.run_action("edit 5:5\n    return a + 2", mlgym)
    assert (result.output, result.exit_code, result.tool) == (
        "Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark the end "
        "of your edit.",
        2,
        "edit",
    )
    assert path.read_text() == SOURCE
    # kubegym's own parser takes the text to the end of the reply.
    opened(ctx, path)
    assert tools.run_action("edit 5:5\n    return a + 2", ctx).ok
    assert "a + 2" in path.read_text()


@pytest.mark.parametrize(
    ("action", "after"),
    [
        # MLGym's script slices whatever range it gets: past the end appends...
        ("edit 20:30\nz = 1\nend_of_edit", SOURCE + "z = 1\n"),
        ("insert 30\nz = 1\nend_of_insert", SOURCE + "z = 1\n"),
        # ...a reversed range repeats the lines between (here line 3, an empty one)...
        ("edit 4:2\nz = 1\nend_of_edit", "import os\n\n\nz = 1\n" + SOURCE[len("import os\n\n") :]),
        # ...and an insertion of nothing changes nothing.
        ("insert 2\nend_of_insert", SOURCE),
    ],
)
def test_line_numbers_are_taken_as_mlgym_s_script_takes_them(
    mlgym: tools.ToolContext, workdir: Path, action: str, after: str
) -> None:
    path = opened(mlgym, workdir / "train.py")
    result = tools.run_action(action, mlgym)
    assert result.ok, result.output
    assert path.read_text() == after
