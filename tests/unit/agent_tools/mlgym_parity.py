"""Run the mlgym tool preset and MLGym's own tool scripts side by side, and compare what they say.

Not collected by pytest: it needs MLGym's repository (its ``tools/*.sh`` and
``tools/_split_string.py``) and jq, file and flake8 on this machine, none of which CI has. Run
it by hand after changing the preset's tools::

    python -m tests.unit.agent_tools.mlgym_parity PATH

PATH is a checkout of facebookresearch/MLGym, or its bare git folder (its HEAD is read). Each
case runs its actions twice, in two copies of the same folder: through MLGym's bash functions
(as its environment runs them: one shell, its errors in the output, ``WINDOW=1000``,
``OVERLAP=2``, ``LAST_ACTION`` set after each action) and through kubegym's tools with ``ToolConfig.for_preset("mlgym")`` on a
real sandbox server. Every answer and every file must be the same; the script prints the
differences and exits 1 if there is any.
"""

from __future__ import annotations

import difflib
import re
import secrets
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

from kubegym.agent_runner import tools
from kubegym.sandbox import client

SCRIPTS = ("defaults.sh", "edit_linting.sh", "insert_linting.sh", "search.sh")
PYTHON = (
    "import os\n\n\ndef f(a):\n    return a + 1\n\n\nprint(f(2))\nx = undefined_thing\n"
    + "".join(f"y{i} = {i}\n" for i in range(30))
)
EDITS = [
    "edit 5:5\n    return a + b",
    "edit 5:5\n    return a +",
    "edit 5:5\n    return a + 2",
    "edit 4:5\ndef f(a):\n  return a",
    "edit 9:9\nx = 1",
    "edit 1:2\n",
    "edit 10:12\nz = q\nw = r",
    "edit 2:3\ndef g(:",
    "edit 38:39\nq = 1\n  r = 2",
    "edit 45:50\ntail = 1",
    "edit 41:45\ntail = nope",
    "edit 6:3\nmid = 1",
    "edit 6:3\nmid = nope",
    "edit 1:39\npass",
    "insert 1\nimport sys",
    "insert 10\nzz = 3",
    "insert 5\n    print(b)",
    "insert 0\n  bad indent",
    "insert 39\ns = t",
    "insert 60\nafter = nope",
    "insert 3\n" + "".join(f"v{k} = {k}\n" for k in range(40)) + "w = nope",
]
CASES: list[list[str]] = [
    *[["open code.py", edit] for edit in EDITS],
    [
        "open big.py",
        "scroll_down",
        "scroll_down",
        "scroll_down",
        "scroll_up",
        "goto 1800",
        "goto 2600",
    ],
    ["goto 3000", "open big.py", "goto 3000", "scroll_up", "goto 0", "open big.py 1300"],
    [
        "open small.py",
        "scroll_down",
        "goto 30",
        "open small.py 35",
        "open small.py 99",
        "open small.py 0",
    ],
    [
        "create new.py",
        "edit 1:1\nimport os\nprint(os.getcwd())",
        "create new.py",
        "insert 2\nx = 1",
    ],
    ["open tiny.py 1200", "scroll_down", "open tiny.py 2", "goto 1499", "scroll_up", "scroll_up"],
    ["scroll_up", "ls", "open tiny.py", "scroll_down", "goto 700", "edit 700:702\nt = ("],
    ["search_dir t1", "search_dir nothing_here", "search_dir t sub", "search_dir t nosuch"],
    ["find_file '*.py'", "find_file tiny.py sub", "find_file x nosuch", "find_file nope.py"],
    ["search_file t14", "open small.py", "search_file s1", "search_file t1 tiny.py"],
    ["search_file t1 nosuch.py", "search_dir python", "find_file 'sp ace.py'"],
    [
        "search_dir k many",
        "search_dir k7 many",
        "find_file 'f1*' many",
        "cd many",
        "search_dir k11",
    ],
    ["open sub", "open nosuch.py", "open pic.png", "open pic.svg", "open 'sp ace.txt'"],
    ["create empty.py", "goto 1", "insert 0\nimport os", "edit 1:2\n", "edit 5:5\nx = 1"],
    ["create nofolder/x.py", "create sub/y.py", "create small.py"],
]


def _png() -> bytes:
    """A one-pixel PNG (``file`` calls only a well-formed one an image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def lay_out(folder: Path) -> None:
    """The files every case starts from."""
    folder.mkdir(parents=True)
    (folder / "code.py").write_text(PYTHON)
    (folder / "big.py").write_text("".join(f"v{i} = {i}\n" for i in range(2600)))
    (folder / "small.py").write_text("".join(f"s{i} = {i}\n" for i in range(40)))
    (folder / "tiny.py").write_text("".join(f"t{i}=1\n" for i in range(1500)))
    (folder / "pic.png").write_bytes(_png())
    (folder / "pic.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>\n')
    (folder / "sp ace.txt").write_text("x\n")
    for name in ("sub", ".hid", "many"):
        (folder / name).mkdir()
    (folder / "sub" / "sp ace.py").write_text("t = python\n")
    (folder / ".hid" / "h.py").write_text("t1 = 1\n")
    for number in range(120):
        (folder / "many" / f"f{number}.txt").write_text(f"k{number}\nk\n")


def mlgym_files(source: Path, into: Path) -> Path:
    """MLGym's tool scripts, and a bin folder with its _split_string and flake8, under ``into``."""
    if (source / "tools").is_dir():

        def read(name: str) -> str:
            return (source / "tools" / name).read_text()
    else:

        def read(name: str) -> str:
            return subprocess.run(
                ["git", f"--git-dir={source}", "show", f"HEAD:tools/{name}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout

    for name in SCRIPTS:
        (into / name).write_text(read(name))
    bin_folder = into / "bin"
    bin_folder.mkdir()
    split = read("_split_string.py").split("\n", 1)[1]  # its own interpreter line goes
    (bin_folder / "_split_string").write_text(f"#!{sys.executable}\n{split}")
    (bin_folder / "_split_string").chmod(0o755)
    (bin_folder / "flake8").write_text(f'#!/bin/sh\nexec {sys.executable} -I -m flake8 "$@"\n')
    (bin_folder / "flake8").chmod(0o755)
    return bin_folder


def as_heredoc(action: str) -> str:
    """An action as MLGym's environment hands a block command to bash."""
    head, _, body = action.partition("\n")
    if not head.startswith(("edit", "insert")):
        return head
    end = "end_of_edit" if head.startswith("edit") else "end_of_insert"
    text = body if body.endswith("\n") or not body else body + "\n"
    return f"{head} <<'{end}'\n{text}{end}"


def as_tool_action(action: str) -> str:
    head, _, body = action.partition("\n")
    if not head.startswith(("edit", "insert")):
        return head
    end = "end_of_edit" if head.startswith("edit") else "end_of_insert"
    text = body if body.endswith("\n") or not body else body + "\n"
    return f"{head}\n{text}{end}"


def run_mlgym(scripts: Path, bin_folder: Path, folder: Path, actions: list[str]) -> list[str]:
    """Each action's output from MLGym's functions, in one shell."""
    lines = [f"source {scripts / name}" for name in SCRIPTS]
    lines += [f"export PATH={bin_folder}:$PATH", f"cd {shlex.quote(str(folder))}"]
    lines += ["WINDOW=1000; OVERLAP=2; CURRENT_LINE=0; CURRENT_FILE=''"]
    for number, action in enumerate(actions):
        lines += [f"echo '@@{number}@@'", as_heredoc(action)]
        lines += [f"export LAST_ACTION={shlex.quote(action.strip())}"]
    done = subprocess.run(
        ["bash", "-c", "\n".join(lines)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Bash names where an error arose: a line of the command stream, or of the tool's script in
    # MLGym's commands folder; the preset says "bash: " for either.
    stream = re.sub(r"^(bash|\S+\.sh): line \d+: ", "bash: ", done.stdout, flags=re.MULTILINE)
    parts = stream.split("@@")[1:]
    return [parts[index + 1].removeprefix("\n") for index in range(0, len(parts), 2)]


def compare(source: Path, say: Callable[[str], None] = print) -> tuple[int, int]:
    """Run every case both ways; (answers and files that agree, answers and files compared)."""
    same = total = 0
    with tempfile.TemporaryDirectory(prefix="mlgym-parity-") as scratch:
        root = Path(scratch)
        bin_folder = mlgym_files(source, root)
        with (
            client.start_server(
                workspace=root, token=secrets.token_hex(8), unix_path=root / "s.sock", timeout=30
            ) as server,
            server.client() as sandbox,
        ):
            for number, actions in enumerate(CASES):
                theirs, ours = root / f"mlgym{number}", root / f"kubegym{number}"
                lay_out(theirs)
                lay_out(ours)
                expected = run_mlgym(root, bin_folder, theirs, actions)
                sandbox.exec(f"cd {shlex.quote(str(ours))}")
                ctx = tools.ToolContext(
                    sandbox=sandbox,
                    state=tools.ToolState(),
                    config=tools.ToolConfig.for_preset("mlgym"),
                    task_timeout_s=30,
                )
                for index, action in enumerate(actions):
                    got = tools.run_action(as_tool_action(action), ctx).output
                    got = got.replace(str(ours), str(theirs))
                    total += 1
                    if got.rstrip("\n") == expected[index].rstrip("\n"):
                        same += 1
                        continue
                    say(f"case {number}, {action!r}:")
                    diff = difflib.unified_diff(
                        expected[index].rstrip("\n").splitlines(),
                        got.rstrip("\n").splitlines(),
                        "mlgym",
                        "kubegym",
                        lineterm="",
                    )
                    say("\n".join(list(diff)[:20]))
                for path in sorted(theirs.rglob("*")):
                    if path.is_file():
                        total += 1
                        mine = ours / path.relative_to(theirs)
                        if mine.read_bytes() == path.read_bytes():
                            same += 1
                        else:
                            say(f"case {number}: {path.relative_to(theirs)} differs")
    return same, total


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    for program in ("bash", "jq", "file"):
        if shutil.which(program) is None:
            print(f"{program} is needed (MLGym's scripts use it)")
            return 2
    same, total = compare(Path(argv[0]))
    print(f"{same} of {total} answers and files the same")
    return 0 if same == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
