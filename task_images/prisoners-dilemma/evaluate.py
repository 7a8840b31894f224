"""Scores an iterated prisoner's dilemma strategy against MLGym's mix of column players.

Usage: evaluate.py --submission strategy.py --split validation|test --data schedule=PATH

The schedule file (made by prepare.py, one per split) holds the split's seed and
MLGym's counts: 10 rounds a game, 10,000 games. ``KUBEGYM_BUDGET`` scales the
number of games (1 = MLGym's). The printed metric ``Score`` is the row player's
mean payoff per round over all games, as in MLGym's evaluate.py.

The submission's ``row_strategy(history)`` runs in a child process (this script
in ``--play`` mode) that answers one move per request. The child cannot see the
opponents' random generator, its prints cannot spoil the metrics line, and a
move that hangs can be stopped. A strategy that fails to import, raises, returns
an invalid move or is too slow makes this script exit non-zero with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import numbers
import os
import random
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

MOVE_SECONDS = 2.0  # the longest one move may take
IMPORT_SECONDS = 60.0  # importing the strategy file (numpy's import included)
TOTAL_SECONDS = 540.0  # all moves together; the task's evaluation timeout is 600 s

# PAYOFF[row][col] = (row's payoff, column's payoff); 0 cooperates, 1 defects.
PAYOFF = (((3, 3), (0, 5)), ((5, 0), (1, 1)))

History = Sequence[tuple[int, int]]


class StrategyError(Exception):
    """The submitted strategy cannot be scored; the message says why."""


# --- MLGym's column players (target.py). Each sees history as (row, col) pairs. ---


def simple_random_column(history: History, rng: random.Random) -> int:
    if not history:
        return 1
    last = history[-1]
    draw = rng.random()
    if draw < 0.3333:
        return 0
    if draw < 0.5:
        return 1
    if draw < 0.9:
        return last[1]  # MLGym's "copy opponent" repeats the column player's own last move
    return 1 - last[0]


def tit_for_tat(history: History, rng: random.Random) -> int:
    return history[-1][0] if history else 0


def always_cooperate(history: History, rng: random.Random) -> int:
    return 0


def always_defect(history: History, rng: random.Random) -> int:
    return 1


def random_choice(history: History, rng: random.Random) -> int:
    return rng.choice([0, 1])


def grim_trigger(history: History, rng: random.Random) -> int:
    return 1 if any(row == 1 for row, _ in history) else 0


def pavlov(history: History, rng: random.Random) -> int:
    if not history:
        return 0
    return 0 if history[-1][0] == history[-1][1] else 1


def tit_for_two_tats(history: History, rng: random.Random) -> int:
    if len(history) < 2:
        return 0
    return 1 if history[-1][0] == 1 and history[-2][0] == 1 else 0


def suspicious_tit_for_tat(history: History, rng: random.Random) -> int:
    return history[-1][0] if history else 1


def coin_flip(history: History, rng: random.Random) -> int:
    return 0 if rng.random() < 0.5 else 1


def forgiving_tit_for_tat(history: History, rng: random.Random) -> int:
    if not history:
        return 0
    if len(history) >= 2 and history[-1][0] == 1 and history[-2][0] == 1:
        return 0
    return history[-1][0]


COLUMN_PLAYERS: tuple[Callable[[History, random.Random], int], ...] = (
    simple_random_column,
    tit_for_tat,
    always_cooperate,
    always_defect,
    random_choice,
    grim_trigger,
    pavlov,
    tit_for_two_tats,
    suspicious_tit_for_tat,
    coin_flip,
    forgiving_tit_for_tat,
)


def column_move(history: History, rng: random.Random) -> int:
    """MLGym's target: a player drawn uniformly at random for every single move."""
    return rng.choice(COLUMN_PLAYERS)(history, rng)


# --- The strategy's process ---


class Player:
    """The submitted strategy in a child process: one request, one move."""

    def __init__(self, submission: Path, seed: int):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        script = str(Path(__file__).resolve())
        self._proc = subprocess.Popen(
            [sys.executable, script, "--play", str(submission), "--seed", str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in = self._proc.stdin.fileno()
        self._out = self._proc.stdout.fileno()
        self._buffer = b""
        self.seconds = 0.0
        hello = self._receive(IMPORT_SECONDS, "importing the strategy file")
        if "error" in hello:
            raise StrategyError(hello["error"])

    def move(self, history: History, where: str) -> object:
        """The strategy's answer to ``history``, as the child normalised it."""
        started = time.monotonic()
        try:
            os.write(self._in, json.dumps(history).encode() + b"\n")
        except BrokenPipeError:
            raise StrategyError(f"the strategy's process ended unexpectedly {where}") from None
        reply = self._receive(MOVE_SECONDS, f"one move ({where})")
        self.seconds += time.monotonic() - started
        if "error" in reply:
            raise StrategyError(f"row_strategy failed {where}: {reply['error']}")
        if self.seconds > TOTAL_SECONDS:
            raise StrategyError(
                f"row_strategy used more than {TOTAL_SECONDS:g} s in total (stopped {where}); "
                "make each move faster"
            )
        return reply["move"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        self._proc.wait()

    def _receive(self, timeout: float, doing: str) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready = select.select([self._out], [], [], max(left, 0.0))[0] if left > 0 else []
            if not ready:
                raise StrategyError(f"the strategy took longer than {timeout:g} s on {doing}")
            chunk = os.read(self._out, 65536)
            if not chunk:
                code = self._proc.wait()
                raise StrategyError(
                    f"the strategy's process ended unexpectedly (exit status {code}) while {doing}"
                )
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, object] = json.loads(line)
        return reply


def check_move(move: object, where: str) -> int:
    if isinstance(move, int) and move in (0, 1):
        return move
    shown = move if isinstance(move, str) else repr(move)
    raise StrategyError(f"row_strategy returned {shown} {where}; a move must be the integer 0 or 1")


def play(player: Player, games: int, rounds: int, rng: random.Random) -> tuple[float, float]:
    """Mean and standard error of the row player's per-game mean payoff."""
    means = []
    for game in range(games):
        history: list[tuple[int, int]] = []
        total = 0
        for turn in range(rounds):
            where = f"in game {game + 1}, round {turn + 1}"
            row = check_move(player.move(history, where), where)
            col = column_move(history, rng)
            history.append((row, col))
            total += PAYOFF[row][col][0]
        means.append(total / rounds)
    mean = sum(means) / len(means)
    spread = sum((m - mean) ** 2 for m in means) / max(len(means) - 1, 1)
    return mean, math.sqrt(spread / len(means))


# --- The child: import the strategy, answer moves ---


def normalise(move: object) -> object:
    """An integer move as a plain int (numpy integers too); anything else as its repr."""
    if isinstance(move, numbers.Integral):
        return int(move)
    return f"{move!r} (a {type(move).__name__})"


def describe(exc: BaseException) -> str:
    """The traceback of a strategy's exception, without this script's or importlib's frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename != __file__ and not frame.filename.startswith("<frozen")
    ]
    text = "".join(traceback.format_exception_only(exc)).strip()
    if frames:
        text = (
            "Traceback (most recent call last):\n"
            + "".join(traceback.format_list(frames[-6:]))
            + text
        )
    return text[-2000:]


def serve(submission: Path, seed: int) -> None:
    with contextlib.suppress(Exception):  # die with the evaluator, even inside a busy loop
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.dup(1)
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # the strategy's input() and print() must not touch the protocol
        os.dup2(quiet, fd)

    def reply(message: dict[str, object]) -> None:
        os.write(replies, json.dumps(message).encode() + b"\n")

    random.seed(seed)
    with contextlib.suppress(ImportError):
        import numpy

        numpy.random.seed(seed % 2**32)
    sys.path[0] = str(submission.parent)
    try:
        spec = importlib.util.spec_from_file_location("strategy", submission)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["strategy"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        reply({"error": f"the strategy file cannot be imported:\n{describe(exc)}"})
        return
    strategy = getattr(module, "row_strategy", None)
    if not callable(strategy):
        reply({"error": "the strategy file defines no function row_strategy(history)"})
        return
    reply({"ready": True})
    for line in requests:
        history = [tuple(pair) for pair in json.loads(line)]
        try:
            move = strategy(history)
        except BaseException as exc:
            reply({"error": describe(exc)})
            return
        reply({"move": normalise(move)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submission")
    parser.add_argument("--split", choices=["validation", "test"])
    parser.add_argument("--data", action="append", default=[])
    parser.add_argument("--play", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.play:
        serve(Path(args.play), args.seed)
        return
    if not args.submission:
        parser.error("--submission is required")
    data = dict(item.split("=", 1) for item in args.data)
    if "schedule" not in data:
        parser.error("--data schedule=PATH is required")
    schedule = json.loads(Path(data["schedule"]).read_text())
    budget = float(os.environ.get("KUBEGYM_BUDGET", "1"))
    games = max(1, round(schedule["games"] * budget))
    submission = Path(args.submission)
    if not submission.is_file():
        sys.exit(f"no strategy file at {submission}")
    player = None
    try:
        player = Player(submission, schedule["seed"] + 1)
        rng = random.Random(schedule["seed"])
        score, stderr = play(player, games, schedule["rounds"], rng)
    except StrategyError as exc:
        sys.exit(str(exc))
    finally:
        if player is not None:
            player.close()
    print(json.dumps({"Score": score, "score_stderr": stderr, "games": games}))


if __name__ == "__main__":
    main()
