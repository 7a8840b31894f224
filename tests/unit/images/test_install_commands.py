"""The sandbox base installs kubegym the way this test does in a fresh venv, and it works.

The commands are read out of task_images/base/Dockerfile, not copied: its COPY lines
are replayed into a temporary folder standing for /opt/kubegym-src, and its
`python -m pip install …` commands run with a fresh venv's Python. pip's cache is
reused (the Dockerfile's --no-cache-dir is dropped here) to keep it fast; without a
package index the test is skipped.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubegym import images

from .dockerfile import parse

SOURCE = "/opt/kubegym-src"
OFFLINE = (
    "Temporary failure in name resolution",
    "Network is unreachable",
    "NewConnectionError",
    "No matching distribution found",
    "Could not find a version",
)


def _install_commands(dockerfile: Path) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """(source, target) of each COPY into the source folder, and each pip install's words."""
    final = parse(dockerfile).stages[-1]
    copies, installs = [], []
    for instruction in final.instructions:
        if instruction.keyword == "COPY" and "from" not in instruction.flags():
            *sources, target = instruction.operands()
            if target.startswith(SOURCE):
                copies += [(source, target) for source in sources]
        if instruction.keyword == "RUN" and "pip install" in instruction.arguments:
            for part in instruction.arguments.split("&&"):
                words = shlex.split(part)
                if words[:4] == ["python", "-m", "pip", "install"]:
                    installs.append(words)
    return copies, installs


def _replay_copies(copies: list[tuple[str, str]], context: Path, root: Path) -> None:
    for source, target in copies:
        destination = root / target.removeprefix(SOURCE).strip("/")
        path = context / source
        if target.endswith("/"):
            destination = destination / path.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, destination, symlinks=True, ignore=ignore)
        else:
            shutil.copyfile(path, destination)


def test_the_dockerfile_installs_kubegym_without_dependencies_then_the_pins() -> None:
    copies, installs = _install_commands(images.REPO / "task_images" / "base" / "Dockerfile")
    assert [w[-1] for w in installs] == [SOURCE, f"{SOURCE}/{images.SANDBOX_LOCK}"]
    assert all("--no-deps" in words for words in installs)
    assert {source for source, _ in copies} >= {"kubegym", "operator", "agent_runner"}


def test_the_same_installs_in_a_fresh_venv_give_working_servers(tmp_path: Path) -> None:
    copies, installs = _install_commands(images.REPO / "task_images" / "base" / "Dockerfile")
    source = tmp_path / "src"
    _replay_copies(copies, images.REPO, source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    for words in installs:
        command = [
            python,
            *[w.replace(SOURCE, str(source)) for w in words[1:] if w != "--no-cache-dir"],
            "--disable-pip-version-check",
            "--quiet",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 and any(s in done.stderr for s in OFFLINE):
            pytest.skip(f"no package index: {done.stderr.strip().splitlines()[-1]}")
        assert done.returncode == 0, done.stderr
    # kubegym's own dependencies are left out on purpose; the evaluator's pins are whole.
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    broken = [line for line in check.stdout.splitlines() if not line.startswith("kubegym ")]
    assert not broken, check.stdout
    # Both servers start their command line; the sandbox stays free of the heavy stack.
    for module in ("kubegym.sandbox", "kubegym.evaluator"):
        help_ = subprocess.run(
            [python, "-m", module, "serve", "--help"], capture_output=True, text=True, cwd=tmp_path
        )
        assert help_.returncode == 0, (module, help_.stderr)
    code = (
        "import importlib.util, kubegym.sandbox.server, kubegym.evaluator.judge\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'boto3', 'kopf', 'litellm')"
        " if importlib.util.find_spec(m)))"
    )
    imported = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "[]"
