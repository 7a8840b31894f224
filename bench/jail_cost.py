"""What the grader's jail costs: evaluation time with agent code jailed, and without.

Scores each code-executing task's starter submission through the real scorer
(`kubegym.evaluator.scorer.score`) twice per round, interleaved in the same run:
``jail="bwrap"`` (the default where bubblewrap runs: a bubblewrap jail with its own
cgroup) and ``jail="process"`` (the same protocol, agent code as a plain separate
process: the comparison switch). Prints the median seconds of each and their
ratio. fineweb-lm is listed but skipped: its model runs jailed through the same
kubegym_lm protocol as fineweb-proxy's, but needs torch and a trained model.
Usage::

    .venv/bin/python bench/jail_cost.py [--rounds 3] [--budget 0.02] [--tasks 3-sat ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kubegym.evaluator import scorer  # noqa: E402
from kubegym.tasks import (  # noqa: E402
    datasets,
    preparation,
    venvs,
)
from tests.tasks.conftest import bundle  # noqa: E402

TASKS = {
    "prisoners-dilemma": "strategy.py",
    "battle-of-sexes": "strategy.py",
    "colonel-blotto": "strategy.py",
    "3-sat": "heuristic.py",
    "fineweb-proxy": None,  # a folder: made by the starter's baseline.py (see _fineweb_model)
}


def _fineweb_model(workspace: Path) -> None:
    """A small causal model in the proxy task's submission format (uniform logits)."""
    folder = workspace / "submission"
    folder.mkdir()
    (folder / "model.py").write_text(
        "import numpy as np\n"
        "class Model:\n"
        "    @classmethod\n"
        "    def load(cls, folder):\n"
        "        return cls()\n"
        "    def forward(self, idx):\n"
        "        return np.zeros((*idx.shape, 8192), np.float32)\n"
    )


def _once(name: str, jail: str, budget: float) -> float:
    task = bundle(name)
    preparation.prepare(task)
    spec = task.task.spec
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        artifact = TASKS[name]
        if artifact is None:
            _fineweb_model(workspace)
        else:
            shutil.copyfile(task.root / "starter" / artifact, workspace / artifact)
        result = scorer.score(
            spec.evaluation,
            task_dir=task.root,
            workspace=workspace,
            data={d.name: datasets.materialize(task, d) for d in spec.validation_data},
            split="validation",
            python=str(venvs.python(venvs.ensure(spec.environment.requirements))),
            env={"KUBEGYM_BUDGET": str(budget)},
            jail=jail,  # type: ignore[arg-type]
        )
    if not result.ok:
        raise SystemExit(f"{name} ({jail}) failed: {result.error}")
    return result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=0.02)
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=list(TASKS))
    args = parser.parse_args()
    print(f"{'task':<20} {'process s':>10} {'bwrap s':>10} {'ratio':>7}")
    for name in args.tasks:
        times: dict[str, list[float]] = {"process": [], "bwrap": []}
        _once(name, "process", args.budget)  # warm caches (venv, data, page cache)
        for _ in range(args.rounds):
            for jail in ("process", "bwrap"):  # interleaved: load drifts hit both alike
                times[jail].append(_once(name, jail, args.budget))
        plain, jailed = (statistics.median(times[k]) for k in ("process", "bwrap"))
        print(f"{name:<20} {plain:>10.3f} {jailed:>10.3f} {jailed / plain:>7.3f}")
    print(f"{'fineweb-lm':<20} {'skipped: needs torch and a trained model':>30}")


if __name__ == "__main__":
    main()
