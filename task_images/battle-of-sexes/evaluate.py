"""Scores a battle-of-the-sexes strategy against MLGym's column player.

Usage: evaluate.py --submission strategy.py --split validation|test --data schedule=PATH

The schedule file (made by prepare.py, one per split) holds the split's seed and
MLGym's counts: 10 rounds a game, 10,000 games. ``KUBEGYM_BUDGET`` scales the
number of games (1 = MLGym's). The printed metric ``Score`` is the row player's
mean payoff per round over all games, as in MLGym's evaluate.py.

The submission's ``row_strategy(history)`` runs in a jail the scorer starts
(kubegym_eval's protocol) and answers one move per request. It cannot see the
partner's random generator, it cannot reach the metrics channel, and a
move that hangs can be stopped. A strategy that fails to import, raises, returns
an invalid move or is too slow makes this script exit non-zero with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH
except ImportError:  # run by hand: it ships in the kubegym package (and this repository)
    import importlib.util

    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    _roots.append(str(Path(__file__).resolve().parent.parent.parent / "kubegym"))
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

# PAYOFF[row][col] = (row's payoff, column's payoff): the row player prefers 0, the column 1.
PAYOFF = (((2, 1), (0, 0)), ((0, 0), (1, 2)))

History = Sequence[tuple[int, int]]


# --- MLGym's column player (target.py). It sees history as (row, col) pairs. ---


def column_move(history: History, rng: random.Random) -> int:
    """MLGym's partner: 1 first; then your first move of the game with probability 0.8, else the other.

    MLGym's target loops over the history but returns inside the loop's first
    pass, so it only ever looks at the row player's move in round 1.
    """
    if not history:
        return 1
    first = history[0][0]
    return first if rng.random() < 0.8 else 1 - first


# --- The strategy, in the scorer's jail ---


def check_move(move: object, where: str) -> int:
    if isinstance(move, int) and move in (0, 1):
        return move
    shown = move if isinstance(move, str) else repr(move)
    raise kubegym_eval.StrategyError(
        f"row_strategy returned {shown} {where}; a move must be the integer 0 or 1"
    )


def play(
    player: kubegym_eval.Strategy, games: int, rounds: int, rng: random.Random
) -> tuple[float, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
        score, stderr = play(player, games, schedule["rounds"], rng)
    except kubegym_eval.StrategyError as exc:
        sys.exit(str(exc))
    finally:
        if player is not None:
            player.close()
    kubegym_eval.report({"Score": score, "score_stderr": stderr, "games": games})


if __name__ == "__main__":
    main()
