"""validate calls are counted by the judge and capped locally, as on a cluster.

A run's ``maxValidations`` reaches the local judge (the task's own cap applies
too, the smaller wins); the trial's results.json and the run's results.csv
carry the judge's counts (``validations``, ``validations_refused``), in the
columns a cluster run's results.csv has; `kubegym audit` reads them.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import yaml

from kubegym import rollups
from kubegym.api import documents
from kubegym.local.runner import LocalRun
from kubegym.report import audit_rules, trial_integrity
from kubegym.scoring import columns

_IMPROVE = [
    'open "baseline.py"',
    "edit 8:10\nfeatures = np.stack([x**k for k in range(10)], axis=1)\n"
    "coef, *_ = np.linalg.lstsq(features, y, rcond=None)\nend_of_edit",
    "edit 14:14\npredictions = np.stack([xs**k for k in range(10)], axis=1) @ coef\nend_of_edit",
    "python baseline.py",
]


def capped_run(tmp_path: Path, repo: Path, actions: list[str], cap: int | None) -> LocalRun:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    replay = tmp_path / "spammer.jsonl"
    replay.write_text("".join(json.dumps({"action": a}) + "\n" for a in actions))
    spec: dict[str, object] = {
        "tasks": {"names": ["polyfit"]},
        "agents": [{"name": "spammer", "builtin": "replay", "replayPath": str(replay)}],
        "seeds": 1,
    }
    if cap is not None:
        spec["maxValidations"] = cap
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "capped"},
        "spec": spec,
    }
    parsed = documents.parse_run_file(yaml.safe_dump(run))
    return LocalRun(parsed, tmp_path, tmp_path / "out")


def test_the_runs_cap_refuses_validates_past_it_and_results_count_them(
    tmp_path: Path, repo: Path
) -> None:
    # The attack: validate as often as possible, improving the artifact between tries,
    # and claim extra validations in the agent's own words (an echo is not a validate).
    actions = [
        "python baseline.py",
        "validate",
        "validate",
        *_IMPROVE,
        "validate",
        "echo validate",
        "validate",
        "submit",
    ]
    summary = asyncio.run(capped_run(tmp_path, repo, actions, cap=2).execute())
    (results,) = summary.trials
    assert (results.validations, results.validations_refused) == (2, 2)
    validates = [s for s in results.scores if s.action == "validate"]
    scored, refused = validates[:2], validates[2:]
    assert all(s.error is None and s.test_metrics for s in scored)
    # Past the cap nothing is scored: no metric of the better artifact leaks, none is recorded.
    assert all(s.error and "refused" in s.error and not s.test_metrics for s in refused)
    assert all(not s.metrics for s in refused)
    assert results.exit_reason == "submitted" and results.score is not None

    out = summary.out
    on_disk = json.loads((out / "trials" / results.trial / "results.json").read_text())
    assert (on_disk["validations"], on_disk["validations_refused"]) == (2, 2)
    with (out / rollups.RESULTS_CSV).open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert tuple(row) == columns.RESULTS_CSV
    assert (row["validations"], row["validations_refused"]) == ("2", "2")

    audited = trial_integrity.audit_trial(on_disk, b"")
    assert audited.validations >= 2


def test_without_a_cap_every_validate_is_scored_and_counted(tmp_path: Path, repo: Path) -> None:
    actions = ["python baseline.py", "validate", "validate", "validate", "submit"]
    summary = asyncio.run(capped_run(tmp_path, repo, actions, cap=None).execute())
    (results,) = summary.trials
    assert (results.validations, results.validations_refused) == (3, 0)
    assert all(s.error is None for s in results.scores)


def test_the_audit_prefers_the_judges_count_to_the_steps(tmp_path: Path) -> None:
    # A trial killed half-way recorded one validate step; the judge counted nine.
    results = {
        "trial": "t",
        "task": "polyfit",
        "agent": "a",
        "seed": 0,
        "steps": 10,
        "scores": [{"action": "validate", "step": 1}],
        "details": {},
        "validations": 9,
    }
    audited = trial_integrity.audit_trial(results, b"")
    assert audited.validations == 9
    assert any(f.rule == audit_rules.VALIDATE_SPAM.name for f in audited.flags)
