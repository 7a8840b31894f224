"""The laptop case: kubegym started by an ordinary user, so bubblewrap runs on unprivileged
user namespaces, cgroups are out of reach and rlimits carry the limits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import kubegym

NOBODY = 65534
SCRIPT = """
import json, subprocess
from pathlib import Path
from kubegym.sandbox import isolation

root = Path({root!r})
spec = isolation.IsolationSpec(
    workspace=root / "ws", runtime_dir=root / "run", memory_bytes=512 << 20, cpus=1.0, pids=40
)
fork_bomb = (
    "import os, time\\n"
    "n = 0\\n"
    "for _ in range(2000):\\n"
    "    try: pid = os.fork()\\n"
    "    except OSError: break\\n"
    "    if pid == 0: time.sleep(30); os._exit(0)\\n"
    "    n += 1\\n"
    "print(n)\\n"
)
with isolation.prepare(spec) as jail:
    def run(argv):
        p = jail.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return p.communicate(timeout=60)[0].decode()
    seen = {{
        "id": run(["sh", "-c", "id -u; touch /workspace/made-here"]).split(),
        "forks": int(run([{python!r}, "-c", fork_bomb])),
        "limits": {{k: v["mechanism"] for k, v in jail.describe()["limits"].items()}},
    }}
print(json.dumps(seen))
"""


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A folder the unprivileged user owns, outside root's private tmp folders."""
    root = Path(tempfile.mkdtemp(prefix="kubegym-unpriv-"))
    (root / "ws").mkdir()
    (root / "pkg").mkdir()
    # Only the package on the path: the repository root would let `operator/` shadow the stdlib.
    # A copy, not a link: the clone may sit in a folder the other user cannot enter (mktemp -d).
    shutil.copytree(
        Path(kubegym.__file__).resolve().parent,
        root / "pkg" / "kubegym",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    if os.geteuid() == 0:
        for folder, dirs, files in os.walk(root):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                os.chown(name, NOBODY, NOBODY)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_an_ordinary_user_gets_a_jail_with_rlimits(bwrap: str, shared_root: Path) -> None:
    as_root = os.geteuid() == 0
    # Root's interpreter lives under root's private home; an ordinary user needs a system one.
    python = "/usr/bin/python3" if as_root else sys.executable
    if not Path(python).exists():
        pytest.skip("needs /usr/bin/python3 to run as an unprivileged user")
    drop: dict[str, object] = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    result = subprocess.run(
        [python, "-c", SCRIPT.format(root=str(shared_root), python=python)],
        env={"PATH": os.defpath, "PYTHONPATH": str(shared_root / "pkg")},
        cwd=shared_root,
        capture_output=True,
        text=True,
        timeout=60,
        **(drop if as_root else {}),  # type: ignore[call-overload]
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["id"] == ["1000"]
    owner = (shared_root / "ws" / "made-here").stat().st_uid
    assert owner == (NOBODY if as_root else os.getuid())
    # RLIMIT_NPROC counts the user's tasks host-wide; the jail leaves room for those.
    assert seen["limits"]["pids"] in ("rlimit", "cgroup-v2")
    assert 0 < seen["forks"] < 40
    assert seen["limits"]["memory"] in ("rlimit", "cgroup-v2")
    assert seen["limits"]["cpu"] in ("unenforced", "cgroup-v2")
