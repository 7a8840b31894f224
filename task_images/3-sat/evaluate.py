"""Scores a 3-SAT branching heuristic: the time the DPLL solver takes with it (lower is better).

Usage: evaluate.py --submission heuristic.py --split validation|test --data instances=PATH

The submitted `heuristic.py` runs in a fresh worker process (this script with
``--worker``), with the task's own copy of the solver (`starter/solver.py`).
This process sends the worker one formula at a time, times each answer on its
own clock, stops the worker when a formula takes longer than
`INSTANCE_TIMEOUT_S`, and checks every answer: a satisfying assignment for a
satisfiable formula, UNSAT for an unsatisfiable one. The worker never sees the
labels. As in MLGym, one wrong answer voids the run: the script exits non-zero
with the reason, so validate/submit report an evaluation error.

Metrics (the last stdout line, JSON): `Time`, the seconds summed over all
formulas (primary, lower is better); `Decisions`, the heuristic's decisions
summed over all formulas (deterministic, lower is better); `Correct` and
`Incorrect`, the counts MLGym reports (Incorrect is 0 whenever a score is
reported). KUBEGYM_BUDGET scales the number of formulas (the first
ceil(budget × N) of the split; 1 = all of them).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOLVER = HERE / "starter" / "solver.py"
INSTANCE_TIMEOUT_S = 20.0
IMPORT_TIMEOUT_S = 60.0


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


# The worker: runs the submitted heuristic --------------------------------------


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so a heuristic may `import solver` as in the starter code
    spec.loader.exec_module(module)
    return module


def worker(submission: Path) -> None:
    """Answer one formula per stdin line with one JSON line on the saved stdout."""
    # The protocol gets private copies of stdin/stdout; the heuristic's prints go to stderr.
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    requests = os.fdopen(os.dup(0), encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = sys.stderr

    def reply(payload: dict[str, Any]) -> None:
        answers.write(json.dumps(payload) + "\n")

    solver = _load("solver", SOLVER)
    try:
        heuristic = _load("heuristic", submission)
    except BaseException as exc:  # any failure to import is the submission's
        reply({"error": f"importing {submission.name} failed: {_short(exc)}"})
        return
    heuristic_fn = getattr(heuristic, "heuristic_fn", None)
    if not callable(heuristic_fn):
        reply({"error": f"{submission.name} defines no function heuristic_fn"})
        return
    reply({"ready": True})
    for line in requests:
        clauses = json.loads(line)
        dpll = solver.DPLL(clauses, heuristic_fn)
        try:
            satisfiable = dpll.solve()
        except solver.HeuristicError as exc:
            reply({"error": str(exc)})
            return
        except BaseException as exc:
            reply({"error": f"the solver failed with your heuristic: {_short(exc)}"})
            return
        model = [v for v, value in dpll.model().items() if value] if satisfiable else None
        reply({"satisfiable": satisfiable, "true": model, "decisions": dpll.num_decisions})


def _short(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


# The parent: feeds, times and checks -------------------------------------------


def read_instances(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Worker:
    """The worker process, with a reader thread so every answer can be awaited with a timeout."""

    def __init__(self, submission: Path, scratch: Path):
        self.stderr = (scratch / "worker-stderr.txt").open("w+", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(submission)],
            cwd=scratch,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def answer(self, timeout: float) -> dict[str, Any] | None:
        """The next answer; None when the worker took longer than ``timeout`` seconds."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            self.process.wait()
            fail(
                f"the solver process exited (status {self.process.returncode}) without "
                f"answering; its last output:\n{self.stderr_tail()}"
            )
        try:
            payload: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            fail(f"the solver process wrote something unexpected: {line[:200]!r}")
        if "error" in payload:
            fail(str(payload["error"]))
        return payload

    def send(self, clauses: list[list[int]]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(clauses, separators=(",", ":")) + "\n")
        self.process.stdin.flush()

    def stderr_tail(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()[-1500:]

    def stop(self, *, kill: bool) -> None:
        """End the worker: at once (``kill``), or by closing its input and waiting a little."""
        if kill:
            self.process.kill()
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def check(instance: dict[str, Any], answer: dict[str, Any]) -> None:
    """Exit with the reason when ``answer`` is wrong for ``instance``."""
    name = instance["id"]
    if answer.get("satisfiable") is False:
        if instance["satisfiable"]:
            fail(
                f"wrong answer on {name}: the solver reported UNSAT, but the formula is "
                "satisfiable (a heuristic must not change the solver's state)"
            )
        return
    true = set(answer.get("true") or [])
    for clause in instance["clauses"]:
        if not any((lit > 0) == (abs(lit) in true) for lit in clause):
            fail(
                f"wrong answer on {name}: the solver reported SAT, but its assignment "
                f"leaves the clause {clause} false"
            )
    if not instance["satisfiable"]:
        fail(f"task data error: {name} is labelled UNSAT, but a satisfying assignment exists")


def evaluate(submission: Path, instances: list[dict[str, Any]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="sat-eval-") as scratch:
        process = Worker(submission, Path(scratch))
        finished = False
        try:
            if process.answer(IMPORT_TIMEOUT_S) is None:
                fail(f"importing {submission.name} took longer than {IMPORT_TIMEOUT_S:g} s")
            seconds = 0.0
            decisions = 0
            for instance in instances:
                started = time.perf_counter()
                process.send(instance["clauses"])
                answer = process.answer(INSTANCE_TIMEOUT_S)
                elapsed = time.perf_counter() - started
                if answer is None:
                    fail(
                        f"{instance['id']} ({instance['num_vars']} variables) took longer than "
                        f"{INSTANCE_TIMEOUT_S:g} s and the run was stopped"
                    )
                check(instance, answer)
                seconds += elapsed
                decisions += int(answer["decisions"])
            finished = True
        finally:
            process.stop(kill=not finished)
    return {
        "Time": round(seconds, 3),
        "Decisions": decisions,
        "Correct": len(instances),
        "Incorrect": 0,
        "instances": len(instances),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission")
    parser.add_argument("--split", default="test")
    parser.add_argument("--data", action="append", default=[])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker))
        return
    data = dict(item.split("=", 1) for item in args.data)
    if "instances" not in data or args.submission is None:
        fail("usage: evaluate.py --submission heuristic.py --split S --data instances=PATH")
    submission = Path(args.submission).resolve()
    if not submission.is_file():
        fail(f"the submission {submission.name} is not a file")
    try:
        compile(submission.read_bytes(), submission.name, "exec")
    except (SyntaxError, ValueError) as exc:
        fail(f"{submission.name} is not valid Python: {exc}")
    instances = read_instances(Path(data["instances"]))
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1") or "1")
    count = min(len(instances), max(1, math.ceil(budget * len(instances))))
    print(json.dumps(evaluate(submission, instances[:count])))


if __name__ == "__main__":
    main()
