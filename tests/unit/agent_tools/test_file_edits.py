"""A step's file edits: the editing tools record each file they write as a bounded unified diff.

The diffs are checked by applying them with ``git apply`` to the file as it was; the attack
tests give the tools paths that lead out of the workspace (a symbolic link to a secret, a linked
folder, an absolute path) and check that nothing of the outside file reaches the record.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import file_edits
from tests.unit.agent_tools.conftest import MakeCtx

SOURCE = "".join(f"line {n}\n" for n in range(1, 21))
SECRET = "TOP-SECRET-7f3a value the agent must not copy out"


@pytest.fixture
def ctx(make_ctx: MakeCtx, workspace: Path) -> tools.ToolContext:
    """A context whose workspace is the server's folder (the server runs on this machine)."""
    context = make_ctx()
    context.workspace = str(workspace)
    return context


def _applies(diff: str, before: str | None, after: str, name: str, tmp_path: Path) -> None:
    """``git apply`` of ``diff`` to ``before`` (None: no file) gives ``after``."""
    folder = tmp_path / "apply"
    shutil.rmtree(folder, ignore_errors=True)
    target = folder / name
    target.parent.mkdir(parents=True)
    if before is not None:
        target.write_text(before)
    (folder / "change.diff").write_text(diff)
    git = shutil.which("git")
    assert git is not None, "git is needed to apply the diffs"
    result = subprocess.run(
        [git, "apply", "--unidiff-zero", "change.diff"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + diff
    assert target.read_text() == after


def test_an_edit_is_recorded_as_a_diff_that_applies(
    ctx: tools.ToolContext, workdir: Path, workspace: Path, tmp_path: Path
) -> None:
    (workdir / "notes.txt").write_text(SOURCE)
    assert tools.run_action("open notes.txt", ctx).exit_code == 0
    assert ctx.edits == []  # reading records nothing
    result = tools.run_action("edit 5:7\nfive\nsix\nend_of_edit", ctx)
    assert result.exit_code == 0, result.output
    [edit] = ctx.edits
    name = f"{workdir.name}/notes.txt"
    assert edit.path == name
    assert edit.diff.startswith(f"--- a/{name}\n+++ b/{name}\n@@ -2,9 +2,8 @@\n")
    assert "-line 5\n-line 6\n-line 7\n+five\n+six\n" in edit.diff
    _applies(edit.diff, SOURCE, (workdir / "notes.txt").read_text(), name, tmp_path)


def test_create_and_insert_are_recorded_under_both_presets(
    make_ctx: MakeCtx, workdir: Path, workspace: Path, tmp_path: Path
) -> None:
    for preset in ("kubegym", "mlgym"):
        ctx = make_ctx(**({"lint": "flake8", "preset": "mlgym"} if preset == "mlgym" else {}))
        ctx.workspace = str(workspace)
        name = f"made_{preset}.py"
        assert tools.run_action(f"create {name}", ctx).exit_code == 0
        [created] = ctx.edits
        relative = f"{workdir.name}/{name}"
        assert created.path == relative
        assert created.diff.startswith(f"--- /dev/null\n+++ b/{relative}\n")
        if preset == "mlgym":  # MLGym's create writes one empty line, kubegym's an empty file
            _applies(created.diff, None, (workdir / name).read_text(), relative, tmp_path)
        else:
            assert created.diff == f"--- /dev/null\n+++ b/{relative}\n"
            assert (workdir / name).read_text() == ""
        ctx.edits.clear()
        result = tools.run_action("insert 0\nimport os\nprint(os.sep)\nend_of_insert", ctx)
        assert result.exit_code == 0, result.output
        [inserted] = ctx.edits
        before = "\n" if preset == "mlgym" else ""  # MLGym's create writes one empty line
        _applies(inserted.diff, before, (workdir / name).read_text(), relative, tmp_path)


def test_a_refused_edit_records_nothing(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "train.py").write_text("x = 1\n")
    assert tools.run_action("open train.py", ctx).exit_code == 0
    result = tools.run_action("edit 1:1\nx = (\nend_of_edit", ctx)
    assert result.exit_code == tools.base.EXIT_FAILED
    assert ctx.edits == []


def test_a_link_out_of_the_workspace_never_copies_the_outside_file(
    ctx: tools.ToolContext, workdir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    (workdir / "link.txt").symlink_to(outside / "secret.txt")
    (workdir / "folder").symlink_to(outside)
    assert tools.run_action("open link.txt", ctx).exit_code == 0
    assert tools.run_action("edit 1:1\nreplaced\nend_of_edit", ctx).exit_code == 0
    assert tools.run_action("create folder/new.txt", ctx).exit_code == 0
    assert tools.run_action(f"create {outside}/absolute.txt", ctx).exit_code == 0
    assert [(e.path, e.diff) for e in ctx.edits] == [
        (f"{workdir.name}/link.txt", file_edits.OUTSIDE),
        (f"{workdir.name}/folder/new.txt", file_edits.OUTSIDE),
        (f"{outside}/absolute.txt", file_edits.OUTSIDE),
    ]
    assert SECRET not in repr(file_edits.for_step(ctx.edits))


def test_a_link_inside_the_workspace_is_diffed(
    ctx: tools.ToolContext, workdir: Path, tmp_path: Path
) -> None:
    (workdir / "real.txt").write_text("a\n")
    (workdir / "alias.txt").symlink_to(workdir / "real.txt")
    assert tools.run_action("open alias.txt", ctx).exit_code == 0
    assert tools.run_action("edit 1:1\nb\nend_of_edit", ctx).exit_code == 0
    [edit] = ctx.edits
    assert edit.path == f"{workdir.name}/alias.txt"
    assert "-a\n+b\n" in edit.diff


def test_a_huge_edit_is_cut_with_the_count_of_lines_left(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    (workdir / "big.txt").write_text("start\n")
    assert tools.run_action("open big.txt", ctx).exit_code == 0
    text = "\n".join(f"new line number {n:05d} with some padding" for n in range(5000))
    assert tools.run_action(f"edit 1:1\n{text}\nend_of_edit", ctx).exit_code == 0
    [edit] = ctx.edits
    assert len(edit.diff.encode()) <= file_edits.MAX_DIFF_BYTES + 40
    kept = edit.diff.splitlines()
    total = 3 + 1 + 5000  # two headers, the hunk line, the removed line, the added lines
    assert kept[-1] == f"… {total - (len(kept) - 1)} more lines"


def test_one_huge_line_is_cut_too(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "wide.txt").write_text("x\n")
    assert tools.run_action("open wide.txt", ctx).exit_code == 0
    assert tools.run_action(f"edit 1:1\n{'é' * 100_000}\nend_of_edit", ctx).exit_code == 0
    [edit] = ctx.edits
    assert len(edit.diff.encode()) <= file_edits.MAX_DIFF_BYTES + 40
    assert edit.diff.endswith("more lines\n") or edit.diff.endswith("more line\n")


def test_a_step_s_diffs_are_bounded_together() -> None:
    edits = [tools.base.FileEdit(f"f{n}.txt", "+x\n" * 10_000) for n in range(5)]
    wire = file_edits.for_step(edits)
    assert [e["path"] for e in wire] == [f"f{n}.txt" for n in range(5)]
    assert sum(len(e["diff"].encode()) for e in wire) <= file_edits.MAX_STEP_BYTES + 5 * 40


def test_a_binary_file_is_noted_not_diffed(ctx: tools.ToolContext, workdir: Path) -> None:
    (workdir / "data.txt").write_text("text\n")
    assert tools.run_action("open data.txt", ctx).exit_code == 0
    assert tools.run_action("edit 1:1\nnul\x00byte\nend_of_edit", ctx).exit_code == 0
    assert [(e.path, e.diff) for e in ctx.edits] == [
        (f"{workdir.name}/data.txt", file_edits.BINARY)
    ]


def test_a_newline_in_a_file_name_cannot_forge_a_diff_header(
    ctx: tools.ToolContext, workdir: Path
) -> None:
    name = "evil\n+++ b/other.txt"
    # Only a function call can carry a newline in an argument.
    assert tools.run_call("create", {"filename": name}, ctx).exit_code == 0
    [edit] = ctx.edits
    assert edit.path == f"{workdir.name}/{name}"
    assert edit.diff.splitlines()[:2] == [
        "--- /dev/null",
        f"+++ b/{workdir.name}/evil\\n+++ b/other.txt",
    ]


@pytest.mark.parametrize("seed", range(40))
def test_the_diff_of_any_contiguous_change_applies(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    old = [rng.choice(["a", "b", "c", ""]) for _ in range(rng.randint(0, 30))]
    start = rng.randint(0, len(old))
    end = rng.randint(start, len(old))
    new = old[:start] + [rng.choice(["a", "b", "x"]) for _ in range(rng.randint(0, 5))] + old[end:]
    diff = file_edits.unified_diff("f.txt", old, new)
    if old == new:
        assert diff == ""
        return
    text = "".join(line + "\n" for line in old)
    _applies(diff, text, "".join(line + "\n" for line in new), "f.txt", tmp_path)
