"""What one frame of the live run display costs, from a quickstart-sized run to a 10,000-trial one.

`kubegym run` redraws its display twice a second from a thread while trials
run, holding the lock the runner's events take, so a frame must stay cheap at
any size. This script builds `kubegym.local.live.RunState`s of growing grids
(tasks × agents × seeds, half of them finished, some failed, some running),
renders each to a 120-column terminal in memory with rich, and prints the
median milliseconds per frame and the ratio to the smallest grid, measured in
the same run.

    .venv/bin/python bench/terminal_display.py [--frames 50]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from rich.console import Console

from kubegym.api import results as results_api
from kubegym.local import display, live

GRIDS = [(4, 2, 2), (10, 5, 5), (20, 10, 10), (50, 20, 10)]  # tasks, agents, seeds


def build(tasks: int, agents: int, seeds: int) -> live.RunState:
    grid = {
        f"t{t}-a{a}-s{s}": (f"task-{t}", f"agent-{a}")
        for t in range(tasks)
        for a in range(agents)
        for s in range(seeds)
    }
    state = live.RunState(run="bench", trials=grid, parallelism=64, budget_usd=1000.0)
    for index, (trial, (task, agent)) in enumerate(grid.items()):
        if index % 2:
            continue
        if index % 64 == 0:
            state.start(trial, at=0.0)
            continue
        state.start(trial, at=0.0)
        state.finish(
            results_api.TrialResult(
                trial=trial,
                task=task,
                agent=agent,
                seed=0,
                primary_metric="m",
                direction="max",
                exit_reason="agent_error" if index % 10 == 0 else "submitted",
                failure_class="agent" if index % 10 == 0 else None,
                score=None if index % 10 == 0 else index / len(grid),
            ),
            at=float(index % 300 + 30),
        )
    return state


def frame_ms(state: live.RunState, frames: int) -> float:
    times = []
    for _ in range(frames):
        console = Console(file=io.StringIO(), width=120, force_terminal=True)
        began = time.perf_counter()
        console.print(display.render(state, now=400.0, log_file="/tmp/kubegym.log"))
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    baseline = None
    print(f"{'trials':>8} {'tasks':>6} {'agents':>7} {'ms/frame':>9} {'ratio':>6}")
    for tasks, agents, seeds in GRIDS:
        state = build(tasks, agents, seeds)
        ms = frame_ms(state, args.frames)
        baseline = baseline or ms
        print(f"{state.total:>8} {tasks:>6} {agents:>7} {ms:>9.2f} {ms / baseline:>6.2f}")


if __name__ == "__main__":
    main()
