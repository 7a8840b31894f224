"""A run folder that is wide rather than big: 20 agents with long names, tasks with long names.

The report's layout tests render it to check that tables and plots still fit a page
and read well. Two of the agents have hostile names, as a tampered results.json can
carry: one is markup with a script, one is matplotlib mathtext that does not parse.
Both are scored, so they reach the leaderboard, the tables and the legends.
Deterministic: the scores come from a seeded `random.Random`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Final

import pandas as pd

from kubegym.scoring import leaderboard as leaderboards

RUN: Final = "wide"
SCRIPT_AGENT: Final = "<script>alert(1)</script>"
MATH_AGENT: Final = "$\\frac{broken"
_MODELS: Final = (
    "gpt-4o-2024-08-06",
    "claude-3-5-sonnet-20241022",
    "llama-3.1-405b-instruct-turbo",
    "gemini-1.5-pro-002",
    "o1-preview-2024-09-12",
    "deepseek-coder-v2-instruct-0724",
    "mistral-large-2411",
    "qwen2.5-coder-32b-instruct",
    "gpt-4o-mini-2024-07-18",
)
AGENTS: Final = (
    *(f"{m}-temperature-{t}-mlgym-default-prompt" for m in _MODELS for t in ("0.0", "0.7")),
    SCRIPT_AGENT,
    MATH_AGENT,
)
TASKS: Final = {
    "rl-breakout-minatar-ppo-from-scratch": ("max", 48.8),
    "image-classification-cifar10-resnet": ("max", 0.497),
    "language-modelling-fineweb-small": ("min", 4.67),
    "regression-kaggle-house-price-advanced": ("max", 0.88),
    "game-theory-iterated-prisoners-dilemma": ("max", 2.37),
    "3-sat-heuristic-solver-runtime": ("min", 16.2),
}
TOOLS: Final = ("open", "edit", "python", "validate", "submit", "search_file", "scroll_down")
SEEDS: Final = 2


def _result(trial: str, task: str, agent: str, seed: int, rng: random.Random) -> dict[str, Any]:
    direction, baseline = TASKS[task]
    factor = rng.uniform(0.6, 1.5)
    score = round(baseline * factor if direction == "max" else baseline / factor, 4)
    failed = rng.random() < 0.1
    return {
        "trial": trial,
        "task": task,
        "agent": agent,
        "seed": seed,
        "primary_metric": "m",
        "direction": direction,
        "exit_reason": "max_steps" if failed else "submitted",
        "scores": [],
        "final": None if failed else {"m": score},
        "score": None if failed else score,
        "best_attempt": score,
        "steps": rng.randint(5, 40),
        "prompt_tokens": rng.randint(10_000, 400_000),
        "completion_tokens": rng.randint(1_000, 40_000),
        "cost_usd": round(rng.uniform(0.01, 3.0), 4),
        "seconds": round(rng.uniform(60, 7200), 1),
        "attempt": 0,
        "message": f"reached the step limit; last output: {agent}" if failed else "",
        "failure_class": "agent" if failed else None,
        "started": "",
        "finished": "",
        "details": {},
        "format_version": 1,
    }


def write_wide_run(out: Path, seed: int = 0) -> Path:
    """Lay the run out in ``out`` as `kubegym run` would, leaderboard.json included."""
    rng = random.Random(seed)
    results: list[dict[str, Any]] = []
    for task in TASKS:
        for agent in AGENTS:
            for trial_seed in range(SEEDS):
                result = _result(f"{RUN}-t{len(results):04d}", task, agent, trial_seed, rng)
                results.append(result)
                folder = out / "trials" / result["trial"]
                folder.mkdir(parents=True)
                (folder / "results.json").write_text(json.dumps(result))
                steps = [
                    {"step": n + 1, "action": f"{rng.choice(TOOLS)} x", "observation": "ok"}
                    for n in range(result["steps"])
                ]
                (folder / "trajectory.jsonl").write_text(
                    "".join(json.dumps(step) + "\n" for step in steps)
                )
    references = pd.DataFrame(
        [(task, d, b) for task, (d, b) in TASKS.items()], columns=leaderboards.REFERENCE_COLUMNS
    )
    trials = pd.DataFrame(
        [[r[c] for c in leaderboards.TRIAL_COLUMNS] for r in results],
        columns=leaderboards.TRIAL_COLUMNS,
    )
    board = leaderboards.compute_leaderboard(leaderboards.tidy_trials(references, trials))
    (out / "leaderboard.json").write_text(json.dumps(board.to_json(RUN), indent=2))
    return out
