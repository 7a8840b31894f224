"""A hand-made run folder with known numbers: failures, retries, a missing trial, odd trajectories.

Two tasks (``acc``, maximised, baseline 0.5; ``loss``, minimised, baseline 2.0),
two agents listed in the run file as B then A, two seeds. The folder is laid out
as `kubegym run` leaves it; `leaderboard.json` is what the runner would write
for these trials (computed here the runner's way, rows in plan order).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from kubegym.scoring import leaderboard as leaderboards

RUN = "tiny"
TASKS = {"acc": ("max", 0.5), "loss": ("min", 2.0)}
AGENTS = ("B", "A")  # the run file's order: not alphabetical, on purpose


def trial(task: str, agent: str, seed: int, **fields: Any) -> dict[str, Any]:
    """A results.json: a submitted trial unless `fields` say otherwise."""
    direction, _ = TASKS[task]
    score = fields.pop("score", None)
    return {
        "trial": f"{RUN}-{task}-{agent}-s{seed}",
        "task": task,
        "agent": agent,
        "seed": seed,
        "primary_metric": "m",
        "direction": direction,
        "exit_reason": "submitted",
        "scores": [],
        "final": None if score is None else {"m": score},
        "score": score,
        "best_attempt": fields.pop("best_attempt", score),
        "steps": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "seconds": 1.0,
        "attempt": 0,
        "message": "",
        "failure_class": None,
        "started": "",
        "finished": "",
        "details": {},
        "format_version": 1,
        **fields,
    }


# (results.json, the actions of its steps); the order here is the plan's: task, agent (B, A), seed.
TRIALS: list[tuple[dict[str, Any], list[str]]] = [
    (
        trial(
            "acc",
            "B",
            0,
            exit_reason="infra_error",
            failure_class="infra",
            attempt=2,
            message="SandboxStartFailed: node lost\nsecond line",
        ),
        [],  # never started: no trajectory
    ),
    (
        trial("acc", "B", 1, score=0.6, attempt=1, steps=2, prompt_tokens=20, cost_usd=0.01),
        ["python train.py", "submit"],
    ),
    (
        trial(
            "acc",
            "A",
            0,
            score=0.8,
            best_attempt=0.9,
            steps=3,
            prompt_tokens=100,
            completion_tokens=10,
            cost_usd=0.10,
        ),
        ["open train.py", "edit 1:2\nx = 1\nend_of_edit", "submit\n"],
    ),
    (
        trial(
            "acc",
            "A",
            1,
            best_attempt=0.7,
            exit_reason="max_steps",
            steps=2,
            prompt_tokens=50,
            completion_tokens=5,
            cost_usd=0.05,
        ),
        ['cat "notes.txt"', "validate"],
    ),
    (trial("loss", "B", 0, score=2.5, steps=1), ["submit"]),
    # loss-B-s1 is missing: its folder has a trajectory and no results.json
    (
        trial(
            "loss",
            "A",
            0,
            score=1.5,
            best_attempt=1.0,
            steps=2,
            prompt_tokens=30,
            completion_tokens=3,
            cost_usd=0.10,
        ),
        ["validate", "submit"],
    ),
    (
        trial(
            "loss",
            "A",
            1,
            exit_reason="agent_error",
            failure_class="agent",
            message="the model answered nothing usable",
            steps=1,
            cost_usd=0.02,
        ),
        ["   "],
    ),
]
MISSING = f"{RUN}-loss-B-s1"


def step_line(number: int, action: str) -> str:
    """One trajectory line as kubegym's recorder writes it."""
    step = {"step": number, "action": action, "observation": "ok", "thought": "", "score": None}
    return json.dumps(step, ensure_ascii=False) + "\n"


def recorded_leaderboard() -> dict[str, Any]:
    """What the local runner writes to leaderboard.json for these trials."""
    references = pd.DataFrame(
        [(task, d, b) for task, (d, b) in TASKS.items()], columns=leaderboards.REFERENCE_COLUMNS
    )
    trials = pd.DataFrame(
        [[r[c] for c in leaderboards.TRIAL_COLUMNS] for r, _ in TRIALS],
        columns=leaderboards.TRIAL_COLUMNS,
    )
    board = leaderboards.compute_leaderboard(leaderboards.tidy_trials(references, trials))
    return board.to_json(RUN)


def write_tiny_run(out: Path) -> Path:
    """Lay the run out in ``out`` and return it."""
    trials_dir = out / "trials"
    for results, actions in TRIALS:
        folder = trials_dir / results["trial"]
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(results, indent=2))
        if actions:
            lines = "".join(step_line(i + 1, a) for i, a in enumerate(actions))
            (folder / "trajectory.jsonl").write_text(lines)
    # another writer's key order (action first): read through the JSON fallback
    other = json.dumps({"action": "submit", "step": 1, "observation": "done"}) + "\n"
    (trials_dir / f"{RUN}-loss-B-s0" / "trajectory.jsonl").write_text(other)
    missing = trials_dir / MISSING
    missing.mkdir()
    (missing / "trajectory.jsonl").write_text(step_line(1, "ls"))
    (out / "leaderboard.json").write_text(json.dumps(recorded_leaderboard(), indent=2))
    status = {"phase": "Running", "counters": {"total": 8, "succeeded": 5, "failed": 2}}
    (out / "status.json").write_text(json.dumps(status))
    return out
