"""The scoring loop of MLGym's repeated two-player games, shared by their evaluate.py scripts.

A task's evaluate.py (beside this module in the task's folder, and in its data image's
eval folder) says what its game is, a `Game`: the column player's next move, the row
player's payoff of one round, and what a valid move is; then it calls `main`.

`main` reads the split's schedule file (made by the task's prepare.py: the split's seed
and MLGym's counts, ``rounds`` a game and ``games``; ``KUBEGYM_BUDGET`` scales the number
of games, 1 = MLGym's) and plays the submission's ``row_strategy(history)`` against the
column player. The strategy runs in a jail the scorer starts (kubegym_eval's protocol)
and answers one move per request: it cannot see the column player's random generator,
it cannot reach the metrics channel, and a move that hangs can be stopped. The metric
``Score`` is the row player's mean payoff per round over all games, as in MLGym's
evaluate.py. A strategy that fails to import, raises, returns an invalid move or is too
slow makes the script exit non-zero with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH
except ImportError:  # run by hand: PYTHONPATH=<kubegym>/evaluator/kit, or kubegym installed
    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

StrategyError = kubegym_eval.StrategyError
History = Sequence[tuple[Any, Any]]


@dataclass(frozen=True)
class Game:
    """One repeated game, as its evaluate.py describes it."""

    column_move: Callable[[History, random.Random], Any]
    """MLGym's column player (its target.py), drawing from the evaluator's generator."""
    row_payoff: Callable[[Any, Any], float]
    """The row player's payoff of one round: (row's move, column's move) -> payoff."""
    check_move: Callable[[object, str], Any]
    """The row player's move if valid; else raises `StrategyError` saying why (and where)."""


def check_binary_move(move: object, where: str) -> int:
    """A matrix game's move: the integer 0 or 1."""
    if isinstance(move, int) and move in (0, 1):
        return move
    shown = move if isinstance(move, str) else repr(move)
    raise StrategyError(f"row_strategy returned {shown} {where}; a move must be the integer 0 or 1")


def matrix_payoff(payoff: Sequence[Sequence[tuple[int, int]]]) -> Callable[[int, int], int]:
    """The row player's payoff in a 2x2 game whose ``payoff[row][col]`` is (row's, column's)."""
    return lambda row, col: payoff[row][col][0]


def play(
    player: kubegym_eval.Strategy, game: Game, games: int, rounds: int, rng: random.Random
) -> tuple[float, float]:
    """Mean and standard error of the row player's per-game mean payoff."""
    means = []
    for number in range(games):
        history: list[tuple[Any, Any]] = []
        total = 0
        for turn in range(rounds):
            where = f"in game {number + 1}, round {turn + 1}"
            row = game.check_move(player.move(history, where), where)
            col = game.column_move(history, rng)
            history.append((row, col))
            total += game.row_payoff(row, col)
        means.append(total / rounds)
    mean = sum(means) / len(means)
    spread = sum((m - mean) ** 2 for m in means) / max(len(means) - 1, 1)
    return mean, math.sqrt(spread / len(means))


def main(game: Game, doc: str | None) -> None:
    """Score the submission named on the command line; ``doc`` is the task script's docstring."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--submission")
    parser.add_argument("--split", choices=["validation", "test"])
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
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
        player = kubegym_eval.Strategy(submission, schedule["seed"] + 1)
        rng = random.Random(schedule["seed"])
        score, stderr = play(player, game, games, schedule["rounds"], rng)
    except kubegym_eval.StrategyError as exc:
        sys.exit(str(exc))
    finally:
        if player is not None:
            player.close()
    kubegym_eval.report({"Score": score, "score_stderr": stderr, "games": games})
