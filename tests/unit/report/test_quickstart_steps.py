"""The steps a viewer shows, on a real run: the built-in agents' trajectories of the quickstart.

Every step of `kubegym run examples/quickstart.yaml` carries the fields the viewer and the
report read (thought, action, observation, edits, score, tokens, cost), in the recorder's order;
the tool edits replay: applying each file's diffs, in order, to the task's starter file gives the
file the trial's workspace.tar.gz holds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from kubegym.agent_runner import trajectory
from kubegym.api import results as results_api
from kubegym.tasks import catalog

REPO = Path(__file__).resolve().parents[3]

TYPES: dict[str, tuple[type, ...]] = {
    "step": (int,),
    "action": (str,),
    "observation": (str,),
    "thought": (str,),
    "exit_code": (int, type(None)),
    "prompt_tokens": (int,),
    "completion_tokens": (int,),
    "cost_usd": (int, float),
    "seconds": (int, float),
    "score": (dict, type(None)),
    "edits": (list,),
    "time": (str,),
}


def _trials(run: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]], Path]]:
    found = []
    for folder in sorted((run / "trials").iterdir()):
        result = json.loads((folder / results_api.RESULTS_JSON).read_text(encoding="utf-8"))
        lines = (folder / results_api.TRAJECTORY_JSONL).read_text(encoding="utf-8").splitlines()
        found.append((result, [json.loads(line) for line in lines], folder))
    return found


def test_every_step_has_the_fields_a_viewer_shows(quickstart_run: Path) -> None:
    trials = _trials(quickstart_run)
    assert {r["agent"] for r, _, _ in trials} == {"baseline", "replay"}
    assert list(TYPES) == [f.name for f in dataclasses.fields(trajectory.Step)]
    for result, steps, _ in trials:
        assert len(steps) == result["steps"] > 0
        assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
        for step in steps:
            assert list(step) == list(TYPES), "the recorder's keys, in its order"
            for key, types in TYPES.items():
                assert isinstance(step[key], types), (result["trial"], key, step[key])
            assert step["action"] and step["observation"], step
            for edit in step["edits"]:
                assert set(edit) == {"path", "diff"}
                assert not edit["path"].startswith("/"), "relative to the workspace"
        assert sum(s["prompt_tokens"] for s in steps) == result["prompt_tokens"]
        assert sum(s["completion_tokens"] for s in steps) == result["completion_tokens"]
        assert abs(sum(s["cost_usd"] for s in steps) - result["cost_usd"]) < 1e-9
        scored = [s["score"] for s in steps if s["score"] is not None]
        assert scored == result["scores"], "each validate and submit step holds its score"
        assert all(s["action"] in ("validate", "submit") for s in steps if s["score"])


def test_the_replays_edits_rebuild_the_final_workspace(
    quickstart_run: Path, tmp_path: Path
) -> None:
    bundles = catalog.discover([REPO / "examples" / "tasks", *catalog.search_path()])
    git = shutil.which("git")
    assert git is not None, "git applies the recorded diffs"
    rebuilt = 0
    for result, steps, folder in _trials(quickstart_run):
        if result["agent"] != "replay":
            continue
        edits = [e for s in steps for e in s["edits"]]
        assert edits, f"{result['trial']}: the replay edits files"
        bundle = bundles[result["task"]]
        starter = bundle.resolve(bundle.task.spec.starter_code.path)
        work = tmp_path / result["trial"]
        work.mkdir()
        for edit in edits:
            target = work / edit["path"]
            if not target.exists() and (starter / edit["path"]).is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(starter / edit["path"], target)
            patch = work.parent / f"{result['trial']}.diff"
            patch.write_text(edit["diff"], encoding="utf-8")
            applied = subprocess.run([git, "apply", str(patch)], cwd=work, capture_output=True)
            assert applied.returncode == 0, (edit, applied.stderr)
        with tarfile.open(folder / "workspace.tar.gz") as archive:
            for path in {e["path"] for e in edits}:
                member = archive.extractfile(f"workspace/{path}")
                assert member is not None, path
                assert (work / path).read_bytes() == member.read(), (result["trial"], path)
                rebuilt += 1
    assert rebuilt >= 3
