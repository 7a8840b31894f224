"""Kill a local run half-way and run it again: every trial ends exactly once, nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

RUN = {
    "apiVersion": "kubegym.io/v1alpha1",
    "kind": "BenchmarkRun",
    "metadata": {"name": "resume"},
    "spec": {
        "tasks": {"names": ["polyfit"]},
        "agents": [{"name": "slow", "builtin": "replay", "replayPath": "slow.jsonl"}],
        "seeds": 4,
        "parallelism": 1,
    },
}


def start(run_file: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubegym", "run", str(run_file), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def finished(out: Path) -> dict[str, dict]:
    return {
        p.parent.name: json.loads(p.read_text()) for p in (out / "trials").glob("*/results.json")
    }


def sandbox_processes(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                found.append(cmdline)
    return found


def test_a_killed_run_resumes_without_running_a_trial_twice(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    actions = ["python baseline.py", "sleep 1.5", "validate", "submit"]
    (tmp_path / "slow.jsonl").write_text("".join(json.dumps({"action": a}) + "\n" for a in actions))
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump(RUN))
    out = tmp_path / "out"

    first = start(run_file, out)
    deadline = time.monotonic() + 60
    while not finished(out) and time.monotonic() < deadline:
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        time.sleep(0.05)
    time.sleep(0.4)  # into the next trial, whose sandbox is now running
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = finished(out)
    assert 1 <= len(before) < 4
    time.sleep(0.5)
    assert sandbox_processes(str(out)) == []  # the killed run's sandboxes died with it

    second = start(run_file, out)
    assert second.wait(timeout=120) == 0, second.stderr.read().decode() if second.stderr else ""
    after = finished(out)
    assert len(after) == 4
    for trial, results in before.items():
        assert after[trial] == results  # finished trials were not run again
    for trial, results in after.items():
        steps = (out / "trials" / trial / "trajectory.jsonl").read_text().splitlines()
        assert [json.loads(s)["action"] for s in steps] == actions  # one clean run each
        assert results["exit_reason"] == "submitted" and results["score"] > 0.4
        assert (out / "trials" / trial / "workspace.tar.gz").is_file()
    assert len((out / "results.csv").read_text().splitlines()) == 5
