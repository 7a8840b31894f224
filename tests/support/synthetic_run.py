"""A generated run folder, laid out exactly as `kubegym run` leaves one, for tests and benchmarks.

`write_run` writes ``trials/<id>/results.json``, ``trajectory.jsonl`` and
``workspace.tar.gz`` for each finished trial, a few trial folders still running
(a trajectory, no results), and the run's rollups as the local runner writes them
(``results.csv``, ``leaderboard.json``, ``status.json``, through `kubegym.rollups`,
and ``profiles.png`` when asked). Everything comes from one `random.Random` seeded
by ``seed``: the same arguments give the same bytes.

The trajectories look like an agent's: thoughts, actions of the built-in tools
(open, edit, create, python, validate, submit…), observations of believable
size, per-step file edits as unified diffs (`kubegym.agent_runner.trajectory.Step`'s
``edits``), validation scores that mostly improve, and tokens and cost per step
that grow with the context. One trial (`SyntheticRun.long_trial`) has
``long_trial_steps`` steps. With ``hostile`` (the default), the run also carries
what an adversarial agent can write: HTML and script in observations, thoughts and
the file names of edits, ANSI escapes and bidi controls, one line of several
hundred kilobytes, and a trial (`SyntheticRun.hostile_trial`) whose task and agent
names are markup. That trial is an infrastructure failure: such names could never
pass a run file, so it only enters what reads the trials' results (the report, the
index, the viewer), not the leaderboard, as a tampered results.json would.

Used by bench/report_scale.py and bench/viewer_load.py, and by the report, index
and viewer tests. Bench scripts run as ``.venv/bin/python bench/x.py`` from the
repository root and import it as ``tests.support.synthetic_run`` after putting the
root on ``sys.path``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import random
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kubegym import rollups
from kubegym.api import results as results_api
from kubegym.api import runs, trials
from kubegym.scoring import leaderboard as leaderboards
from kubegym.scoring import submissions

RUN: Final = "synthetic"
STARTED: Final = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
METRIC: Final = "metric"
INFRA_MESSAGE: Final = "SandboxStartFailed: the node went away"
EXIT_REASONS: Final = ("submitted",) * 8 + ("max_steps", "cost_limit", "wall_time")
WORKSPACE_ARCHIVE: Final = "workspace.tar.gz"
PROMPT_PRICE: Final = 2.5e-6
COMPLETION_PRICE: Final = 1e-5

SCRIPT: Final = "<script>alert('kubegym')</script>"
IMG: Final = '"><img src=x onerror="alert(document.cookie)">'
HOSTILE_TASK: Final = f"task-{SCRIPT}"
HOSTILE_AGENT: Final = f"agent{IMG}</td></tr></table>"
HOSTILE_FILES: Final = (
    f"{IMG}.py",
    "../../../etc/passwd",
    "notes/<b>bold</b> & 'quoted' \"name\".md",
)
HOSTILE_TEXTS: Final = (
    f"{SCRIPT}\n</textarea></pre>{IMG}",
    "\x1b[31mred\x1b[0m \x1b]0;title\x07 \u202eevil\u202c \u0000 nul",
    '<iframe src="javascript:alert(1)"></iframe> {{7*7}} ${7*7} </script><script>x=1</script>',
)
LONG_LINE_CHARS: Final = 300_000
"""The length of the one huge line a hostile run holds (an agent printing a whole file)."""

_FILES: Final = ("train.py", "model.py", "data.py", "config.yaml", "utils/metrics.py")
_THOUGHTS: Final = (
    "Let me look at the data first.",
    "The validation loss plateaus; a smaller learning rate may help.",
    "I should check how the baseline builds its features before changing anything.",
    "Adding weight decay should reduce the overfitting I see in the last run.",
    "The score improved. Let me try a wider hidden layer next.",
    "That edit broke the indentation; I will fix it.",
    "Let me validate to see where this stands on the held-out split.",
    "Training is slow; I will cut the epochs and compare.",
)
_LOSS_LINE: Final = "epoch {e:3d} | loss {loss:.4f} | val {val:.4f} | lr {lr:.1e}\n"


@dataclass
class SyntheticRun:
    """What `write_run` wrote, for tests to check against."""

    folder: Path
    run: str
    tasks: list[str]
    """The run's tasks in plan order (the hostile task is not one: see `hostile_trial`)."""
    agents: list[str]
    """The run's agents in plan order."""
    trials: list[str] = field(default_factory=list)
    """Every finished trial's id, in writing order."""
    unfinished: list[str] = field(default_factory=list)
    """Trial folders with a trajectory and no results.json (still running)."""
    steps: int = 0
    """Trajectory steps written, over every trial (finished or not)."""
    long_trial: str | None = None
    """The trial with ``long_trial_steps`` steps."""
    hostile_trial: str | None = None
    """The trial whose task and agent names are markup (None without ``hostile``)."""


def write_run(
    folder: Path,
    trials: int = 200,
    *,
    steps: tuple[int, int] = (5, 30),
    long_trial_steps: int = 1000,
    seed: int = 0,
    tasks: int = 13,
    agents: int = 20,
    unfinished: int = 5,
    hostile: bool = True,
    plot: bool = False,
    run: str = RUN,
) -> SyntheticRun:
    """Write a run of ``trials`` finished trials into ``folder`` (created; must hold no trials yet).

    Args:
        folder: the run's output folder, as ``kubegym run --out`` takes it.
        trials: finished trials over the grid tasks × agents × seeds (seeds fill up
            to the count), plus the hostile trial when ``hostile``.
        steps: the fewest and most steps of an ordinary trial.
        long_trial_steps: the steps of one trial (the first scored one); 0: none.
        seed: everything random follows from it.
        tasks: tasks in the grid (named ``task-00``…).
        agents: agents in the grid (named ``agent-00``…).
        unfinished: trial folders still running (a trajectory, no results).
        hostile: write the hostile content (see the module's docstring).
        plot: also draw ``profiles.png`` (matplotlib: about a second).
        run: the run's name (trial ids start with it).
    """
    rng = random.Random(seed)
    task_names = [f"task-{t:02d}" for t in range(tasks)]
    agent_names = [f"agent-{a:02d}" for a in range(agents)]
    written = SyntheticRun(folder=folder, run=run, tasks=task_names, agents=agent_names)
    directions = {name: ("max" if t % 3 else "min") for t, name in enumerate(task_names)}
    baselines = {name: round(1.0 + t / 10, 3) for t, name in enumerate(task_names)}
    skill = {name: rng.uniform(0.7, 1.4) for name in agent_names}
    archives = {name: _workspace_archive(name) for name in task_names}
    pools = _Pools.draw(rng)
    (folder / "trials").mkdir(parents=True, exist_ok=True)

    results: list[results_api.TrialResult] = []
    cells = tasks * agents
    base_seeds, extra = divmod(trials, cells)
    cell = 0
    for task in task_names:
        for agent in agent_names:
            for trial_seed in range(base_seeds + (1 if cell < extra else 0)):
                trial = _Trial(
                    run, task, agent, trial_seed, directions[task], baselines[task], rng, pools
                )
                long = long_trial_steps if written.long_trial is None else 0
                trial.plan(skill[agent], steps, long=long)
                if long and not trial.infra:
                    written.long_trial = trial.id
                # A hostile run's long trial carries every kind of hostile content, and
                # about one trial in a hundred some of it (not the huge line).
                sprinkled = hostile and (trial.id == written.long_trial or rng.random() < 0.01)
                written.steps += trial.write(
                    folder, archives[task], hostile=sprinkled, huge=trial.id == written.long_trial
                )
                written.trials.append(trial.id)
                results.append(trial.result)
            cell += 1
    if hostile:
        trial = _Trial(run, HOSTILE_TASK, HOSTILE_AGENT, 0, "max", 1.0, rng, pools)
        trial.plan(1.0, (12, 12), infra=True)
        written.steps += trial.write(folder, None, hostile=True, huge=True)
        written.hostile_trial = trial.id
        written.trials.append(trial.id)
        results.append(trial.result)
    for n in range(unfinished):
        task, agent = task_names[n % tasks], agent_names[n % agents]
        trial = _Trial(run, task, agent, 1000 + n, directions[task], baselines[task], rng, pools)
        trial.plan(1.0, steps, infra=False)
        written.steps += trial.write(folder, None, hostile=False, finished=False)
        written.unfinished.append(trial.id)

    _write_rollups(folder, run, task_names, agent_names, directions, baselines, results, plot)
    return written


class _Trial:
    """One trial's plan, its steps and its results.json."""

    def __init__(
        self,
        run: str,
        task: str,
        agent: str,
        seed: int,
        direction: str,
        baseline: float,
        rng: random.Random,
        pools: _Pools,
    ) -> None:
        self.id = f"{run}-{_slug(task)}-{_slug(agent)}-s{seed}-{rng.getrandbits(32):08x}"
        self.task, self.agent, self.seed = task, agent, seed
        self.direction, self.baseline = direction, baseline
        self.rng, self.pools = rng, pools
        self.length = 0
        self.infra = False
        self.started = STARTED + dt.timedelta(seconds=rng.randint(0, 86_400))
        self.result: results_api.TrialResult

    def plan(
        self, skill: float, steps: tuple[int, int], *, long: int = 0, infra: bool | None = None
    ) -> None:
        """Draw the trial's fate: its length, how good it gets, whether its submission fails.

        Args:
            skill: the agent's factor on the task's baseline.
            steps: the fewest and most steps.
            long: this many steps instead (0: drawn from ``steps``).
            infra: an infrastructure failure; None: drawn (2 %, then the sandbox never
                started: no steps); True: one that failed after its steps.
        """
        rng = self.rng
        self.infra = rng.random() < 0.02 if infra is None else infra
        if self.infra and infra is None:
            self.length = 0
        else:
            self.length = long or rng.randint(*steps)
        self.submit_fails = rng.random() < 0.1
        factor = skill * rng.uniform(0.8, 1.2)
        self.best = self.baseline * factor if self.direction == "max" else self.baseline / factor

    def write(
        self,
        folder: Path,
        archive: bytes | None,
        *,
        hostile: bool,
        huge: bool = False,
        finished: bool = True,
    ) -> int:
        """Write the trial's files; the steps written."""
        trial_folder = folder / "trials" / self.id
        trial_folder.mkdir()
        lines, scores, totals = self._steps(hostile=hostile, huge=huge)
        if lines:
            (trial_folder / results_api.TRAJECTORY_JSONL).write_text(
                "".join(lines), encoding="utf-8"
            )
        if not finished:
            return len(lines)
        if archive is not None and not self.infra:
            (trial_folder / WORKSPACE_ARCHIVE).write_bytes(archive)
        data = self._results(scores, totals)
        self.result = results_api.TrialResult.model_validate(data)
        (trial_folder / results_api.RESULTS_JSON).write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return len(lines)

    def _steps(
        self, *, hostile: bool, huge: bool
    ) -> tuple[list[str], list[dict[str, Any]], list[float]]:
        """The trajectory's lines, the validate/submit scores, and prompt/completion/cost/seconds."""
        rng = self.rng
        lines: list[str] = []
        scores: list[dict[str, Any]] = []
        prompt = completion = 0
        cost = seconds = 0.0
        # The first attempt is worse than the task's baseline; each validation then closes
        # part of the gap to the trial's best, more slowly the more steps there are to go.
        current = self.baseline * (0.6 if self.direction == "max" else 1.6)
        pace = min(0.9, 20 / max(1, self.length))
        clock = self.started
        pools = self.pools
        sources = {name: rng.choice(pools.sources) for name in _FILES[:3]}
        hostile_every = max(1, self.length // 4) if hostile else 0
        for number in range(1, self.length + 1):
            last = number == self.length
            kind = "submit" if last and not self.infra else _kind(rng)
            thought = rng.choice(_THOUGHTS)
            edits: list[dict[str, str]] = []
            score = None
            exit_code: int | None = 0
            if kind == "open":
                name = rng.choice(list(sources))
                action = f'open "{name}"'
                observation = _listing(name, sources[name])
            elif kind == "edit":
                name = rng.choice(list(sources))
                action, edit, sources[name] = _edit(name, sources[name], rng)
                edits.append(edit)
                observation = f"[File: /workspace/{name}]\nFile updated."
            elif kind == "create":
                name = f"experiments/run_{number}.py"
                body = rng.choice(pools.sources)
                action = f'create "{name}"'
                edits.append({"path": name, "diff": _new_file_diff(name, body)})
                observation = f"[File: /workspace/{name} ({len(body)} lines total)]"
            elif kind == "python":
                action = "python train.py"
                observation = rng.choice(pools.logs)
                exit_code = 0 if rng.random() < 0.9 else 1
                if exit_code:
                    observation += "Traceback (most recent call last):\n  ...\nValueError: shapes\n"
            elif kind in ("validate", "submit"):
                action = kind
                current = _improve(current, self.best, self.direction, pace, rng)
                when = (clock + dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
                # Held-out data for validate, test data for submit; the hidden test score
                # of either is what "best attempt" reads.
                test = round(current * rng.uniform(0.97, 1.03), 6)
                metrics = {METRIC: current if kind == "validate" else test}
                score = {"step": number, "action": kind, "metrics": metrics}
                score["testMetrics"] = {METRIC: test}
                score["time"] = when
                observation = f"Your code produced a valid submission.\n{METRIC}: {current:.4f}"
                if kind == "submit" and self.submit_fails:
                    score = {"step": number, "action": kind, "error": "submission.csv is missing"}
                    score["time"] = when
                    observation = "Submission failed: submission.csv is missing."
                scores.append(score)
            else:
                action = "ls -la data/"
                observation = rng.choice(pools.listings)
            if hostile_every and number % hostile_every == 0:
                text = HOSTILE_TEXTS[(number // hostile_every) % len(HOSTILE_TEXTS)]
                observation += "\n" + text
                thought += " " + text
                name = HOSTILE_FILES[(number // hostile_every) % len(HOSTILE_FILES)]
                edits.append({"path": name, "diff": _new_file_diff(name, [text])})
                if huge and number // hostile_every == 1:
                    observation += "\n" + "A<b>" * (LONG_LINE_CHARS // 4)
            # Drawn with random() alone: randint is slow, and a run holds many steps.
            step_prompt = 1200 + 180 * min(number, 60) + int(rng.random() * 400)
            step_completion = 40 + int(rng.random() * 360)
            step_cost = round(step_prompt * PROMPT_PRICE + step_completion * COMPLETION_PRICE, 6)
            step_seconds = round(1.0 + rng.random() * 11.0, 3)
            prompt += step_prompt
            completion += step_completion
            cost += step_cost
            seconds += step_seconds
            clock += dt.timedelta(seconds=step_seconds)
            # The key order of `kubegym.agent_runner.trajectory.Step`, as its recorder writes it.
            step = {
                "step": number,
                "action": action,
                "observation": observation,
                "thought": thought,
                "exit_code": exit_code,
                "prompt_tokens": step_prompt,
                "completion_tokens": step_completion,
                "cost_usd": step_cost,
                "seconds": step_seconds,
                "score": score,
                "edits": edits,
                "time": clock.isoformat(),
            }
            lines.append(json.dumps(step, ensure_ascii=False) + "\n")
        return lines, scores, [float(prompt), float(completion), cost, seconds]

    def _results(self, scores: list[dict[str, Any]], totals: list[float]) -> dict[str, Any]:
        rng = self.rng
        checked = [trials.Score.model_validate(s) for s in scores]
        submits = [s for s in checked if s.action == "submit"]
        final = None
        if not self.infra and submits and submits[-1].error is None:
            final = submits[-1].metrics
        if self.infra:
            exit_reason, failure, message = "infra_error", "infra", INFRA_MESSAGE
        elif final is None:
            exit_reason, failure, message = "eval_error", "agent", "submission.csv is missing"
        else:
            exit_reason, failure, message = rng.choice(EXIT_REASONS), None, ""
        best = None
        if not self.infra:
            best = results_api.best_attempt(checked, METRIC, self.direction)
        prompt, completion, cost, seconds = totals
        finished = self.started + dt.timedelta(seconds=seconds + 5)
        return {
            "trial": self.id,
            "task": self.task,
            "agent": self.agent,
            "seed": self.seed,
            "primary_metric": METRIC,
            "direction": self.direction,
            "exit_reason": exit_reason,
            "scores": scores,
            "final": final,
            "score": None if final is None else final[METRIC],
            "best_attempt": best,
            "steps": self.length,
            "prompt_tokens": int(prompt),
            "completion_tokens": int(completion),
            "cost_usd": round(cost, 6),
            "seconds": round(seconds, 3),
            "attempt": (1 if self.infra else 0) + (1 if rng.random() < 0.03 else 0),
            "message": message,
            "failure_class": failure,
            "started": self.started.isoformat(),
            "finished": finished.isoformat(),
            "details": {"sandbox": {"backend": "bwrap", "isolated": True}},
            "validations": sum(1 for s in scores if s["action"] == "validate"),
            "validations_refused": 0,
            "format_version": results_api.FORMAT_VERSION,
        }


def _write_rollups(
    folder: Path,
    run: str,
    task_names: Sequence[str],
    agent_names: Sequence[str],
    directions: dict[str, str],
    baselines: dict[str, float],
    results: Sequence[results_api.TrialResult],
    plot: bool,
) -> None:
    """results.csv, leaderboard.json and status.json as the local runner writes them."""

    from kubegym.local import outputs

    # `kubegym.rollups.leaderboard` takes the run's Task documents for their baselines; a
    # generated run has none: its references are given as they are.
    tidy = rollups.tidy_trials(
        [(t, directions[t], baselines[t]) for t in task_names], agent_names, results
    )
    rule = submissions.FINAL_SUBMIT
    # As `kubegym.api.runs.Agent.design` words a model agent's design.
    designs = {
        name: f"model synthetic/model-{n % 3}, preset default, settings {n:012x}"
        for n, name in enumerate(agent_names)
    }
    board = leaderboards.compute_leaderboard(tidy, best_submission=rule, designs=designs)
    failed = sum(1 for r in results if r.failed)
    scores = rollups.agent_scores(board)
    status = runs.BenchmarkRunStatus(
        phase="Running",
        counters=runs.RunCounters(
            total=len(results),
            succeeded=len(results) - failed,
            failed=failed,
        ),
        progress=f"{len(results)}/{len(results)}",
        spent_usd=round(sum(r.cost_usd for r in results), 6),
        best_aup=rollups.best_aup(scores),
        leaderboard=scores,
    )
    if len(results) == status.counters.total:
        status.phase = "Succeeded" if failed < len(results) else "Failed"
    texts = rollups.files(
        run, [], agent_names, results, status, best_submission=rule, board=board, designs=designs
    )
    outputs.write(folder, texts)
    if plot and board.result is not None:
        outputs.draw(board.result, folder, f"{run}: performance profiles")


@dataclass(frozen=True)
class _Pools:
    """Texts drawn once per run and reused by every trial: drawing them per step is too slow."""

    sources: list[list[str]]
    logs: list[str]
    listings: list[str]

    @classmethod
    def draw(cls, rng: random.Random) -> _Pools:
        return cls(
            sources=[_source(f"file_{n}.py", rng) for n in range(16)],
            logs=[_training_log(rng) for _ in range(32)],
            listings=[
                "".join(
                    f"-rw-r--r-- 1 agent agent {rng.randint(100, 10**7):>9} data/part-{i}.csv\n"
                    for i in range(rng.randint(2, 8))
                )
                for _ in range(16)
            ],
        )


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    for kind, upto in (
        ("open", 0.2),
        ("edit", 0.45),
        ("create", 0.5),
        ("python", 0.7),
        ("validate", 0.85),
    ):
        if roll < upto:
            return kind
    return "ls"


def _slug(name: str) -> str:
    """A name as a trial id holds it: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


def _source(name: str, rng: random.Random) -> list[str]:
    """A believable Python file of 15 to 40 lines."""
    body = [f'"""{name}: part of the agent\'s solution."""', "", "import numpy as np", ""]
    for i in range(rng.randint(11, 36)):
        body.append(f"value_{i} = np.mean(np.arange({rng.randint(2, 99)})) * {rng.random():.3f}")
    return body


def _listing(name: str, lines: list[str]) -> str:
    numbered = "".join(f"{i}:{line}\n" for i, line in enumerate(lines, 1))
    return f"[File: /workspace/{name} ({len(lines)} lines total)]\n{numbered}"


def _edit(name: str, lines: list[str], rng: random.Random) -> tuple[str, dict[str, str], list[str]]:
    """An ``edit start:end`` action replacing a few lines; its diff and the new lines."""
    start = 4 + int(rng.random() * (len(lines) - 3))
    end = min(len(lines), start + int(rng.random() * 3))
    new = [f"value_{start} = np.median(np.arange({int(rng.random() * 99)})) * {rng.random():.3f}"]
    new += [f"# tuned at step {int(rng.random() * 999)}"] * int(rng.random() * 3)
    action = f"edit {start}:{end}\n" + "\n".join(new) + "\nend_of_edit"
    old = lines[start - 1 : end]
    context_before = lines[max(0, start - 4) : start - 1]
    context_after = lines[end : end + 3]
    first = start - len(context_before)
    hunk = (
        f"@@ -{first},{len(context_before) + len(old) + len(context_after)} "
        f"+{first},{len(context_before) + len(new) + len(context_after)} @@\n"
        + "".join(f" {line}\n" for line in context_before)
        + "".join(f"-{line}\n" for line in old)
        + "".join(f"+{line}\n" for line in new)
        + "".join(f" {line}\n" for line in context_after)
    )
    diff = f"--- a/{name}\n+++ b/{name}\n{hunk}"
    return action, {"path": name, "diff": diff}, lines[: start - 1] + new + lines[end:]


def _new_file_diff(name: str, lines: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return f"--- /dev/null\n+++ b/{name}\n@@ -0,0 +1,{len(lines)} @@\n{body}"


def _training_log(rng: random.Random) -> str:
    loss, lr = rng.uniform(1.0, 3.0), 10 ** -rng.randint(2, 4)
    out = []
    for epoch in range(1, rng.randint(3, 12) + 1):
        loss *= rng.uniform(0.7, 0.98)
        out.append(_LOSS_LINE.format(e=epoch, loss=loss, val=loss * 1.1, lr=lr))
    return "".join(out)


def _improve(current: float, best: float, direction: str, pace: float, rng: random.Random) -> float:
    """The next validation score: part of the way towards the trial's best, now and then worse."""
    step = (best - current) * pace * (0.3 + 0.7 * rng.random())
    if rng.random() < 0.15:
        step = -abs(step) if direction == "max" else abs(step)
    return round(current + step, 6)


def _workspace_archive(task: str) -> bytes:
    """A small workspace.tar.gz, the same bytes for every trial of a task (gzip without a date)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in (
            ("workspace/train.py", f"# {task}\nprint('training')\n"),
            ("workspace/submission.csv", "id,y\n0,1.0\n1,2.0\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(STARTED.timestamp())
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


__all__ = [
    "HOSTILE_AGENT",
    "HOSTILE_FILES",
    "HOSTILE_TASK",
    "HOSTILE_TEXTS",
    "LONG_LINE_CHARS",
    "SyntheticRun",
    "write_run",
]
