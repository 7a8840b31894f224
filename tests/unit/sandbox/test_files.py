"""Reading, writing and listing files, relative to the workspace or absolute."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubegym.sandbox.client import SandboxClient, SandboxError
from kubegym.sandbox.protocol import FileEntry


def test_binary_round_trip_into_new_nested_folders(sandbox: SandboxClient, workspace: Path) -> None:
    data = bytes(range(256)) * 3
    sandbox.write_file("a/b/c/blob.bin", data)
    assert (workspace / "a/b/c/blob.bin").read_bytes() == data
    assert sandbox.read_file("a/b/c/blob.bin") == data
    sandbox.write_file("empty", b"")
    assert sandbox.read_file("empty") == b""


def test_write_replaces_atomically_and_keeps_the_mode(
    sandbox: SandboxClient, workspace: Path
) -> None:
    script = workspace / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    sandbox.write_file("run.sh", b"#!/bin/sh\necho new\n")
    assert script.read_text() == "#!/bin/sh\necho new\n"
    assert script.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in workspace.iterdir()) == ["run.sh"]  # no temporary left
    assert sandbox.exec("./run.sh").output == "new\n"


def test_files_written_by_commands_are_read_back(sandbox: SandboxClient, tmp_path: Path) -> None:
    sandbox.exec("mkdir -p out && printf 'acc=0.9' > out/metrics.txt")
    assert sandbox.read_file("out/metrics.txt") == b"acc=0.9"
    outside = tmp_path / "outside.txt"
    sandbox.write_file(str(outside), b"absolute")
    assert outside.read_bytes() == b"absolute"
    assert sandbox.read_file(str(outside)) == b"absolute"


def test_errors_map_to_python_exceptions(sandbox: SandboxClient, workspace: Path) -> None:
    (workspace / "folder").mkdir()
    (workspace / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        sandbox.read_file("missing.txt")
    with pytest.raises(IsADirectoryError):
        sandbox.read_file("folder")
    with pytest.raises(IsADirectoryError):
        sandbox.write_file("folder", b"x")
    with pytest.raises(NotADirectoryError):
        sandbox.write_file("file/below", b"x")
    with pytest.raises(NotADirectoryError):
        sandbox.list_files("file")
    with pytest.raises(FileNotFoundError):
        sandbox.list_files("nowhere")
    with pytest.raises(SandboxError) as error:
        sandbox.read_file("bad\0name")
    assert error.value.status == 400 and error.value.field == "path"


def test_listing_kinds_sizes_recursion_and_cap(sandbox: SandboxClient, workspace: Path) -> None:
    (workspace / "src/pkg").mkdir(parents=True)
    (workspace / "src/pkg/mod.py").write_text("x = 1\n")
    (workspace / "src/main.py").write_text("print()\n")
    os.symlink("main.py", workspace / "src/link")
    os.mkfifo(workspace / "src/fifo")
    assert sandbox.list_files("src") == [
        FileEntry("src/fifo", "other", 0),
        FileEntry("src/link", "link", len("main.py")),
        FileEntry("src/main.py", "file", 8),
        FileEntry("src/pkg", "dir", 0),
    ]
    assert [e.path for e in sandbox.list_files(".", recursive=True)] == [
        "src",
        "src/fifo",
        "src/link",
        "src/main.py",
        "src/pkg",
        "src/pkg/mod.py",
    ]
    assert sandbox.list_files(str(workspace / "src/pkg")) == [
        FileEntry(str(workspace / "src/pkg/mod.py"), "file", 6)
    ]
    capped = sandbox.list_directory(".", recursive=True, max_entries=2)
    assert capped.truncated and len(capped.entries) == 2
    assert not sandbox.list_directory("src").truncated
