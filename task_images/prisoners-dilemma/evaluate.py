"""Scores an iterated prisoner's dilemma strategy against MLGym's mix of column players.

Usage: evaluate.py --submission strategy.py --split validation|test --data schedule=PATH

The schedule file (made by prepare.py, one per split) holds the split's seed and
MLGym's counts: 10 rounds a game, 10,000 games. ``KUBEGYM_BUDGET`` scales the
number of games (1 = MLGym's). The printed metric ``Score`` is the row player's
mean payoff per round over all games, as in MLGym's evaluate.py.

The submission's ``row_strategy(history)`` runs in a jail the scorer starts
(kubegym_eval's protocol) and answers one move per request. It cannot see the
opponents' random generator, it cannot reach the metrics channel, and a
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
from collections.abc import Callable, Sequence
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

# PAYOFF[row][col] = (row's payoff, column's payoff); 0 cooperates, 1 defects.
PAYOFF = (((3, 3), (0, 5)), ((5, 0), (1, 1)))

History = Sequence[tuple[int, int]]


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
