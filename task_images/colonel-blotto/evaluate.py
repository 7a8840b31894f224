"""Scores a Colonel Blotto strategy against MLGym's random column player.

Usage: evaluate.py --submission strategy.py --split validation|test --data schedule=PATH

Each round is one game of Colonel Blotto: both players split 120 soldiers over 6
battlefields; whoever holds more battlefields wins (+1 to the winner, -1 to the
loser, 0 each on a tie). The schedule file (made by prepare.py, one per split)
holds the split's seed and MLGym's counts: 10 rounds a simulation, 10,000
simulations. ``KUBEGYM_BUDGET`` scales the number of simulations (1 = MLGym's).
The printed metric ``Score`` is the row player's mean payoff per round, as in
MLGym's evaluate.py.

The submission's ``row_strategy(history)`` runs in a jail the scorer starts
(kubegym_eval's protocol) and answers one move per request. It cannot see the
partner's random generator, it cannot reach the metrics channel, and a
move that hangs can be stopped. A strategy that fails to import, raises, returns
an invalid allocation or is too slow makes this script exit non-zero with the reason.
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

SOLDIERS = 120
BATTLEFIELDS = 6

Allocation = list[int]
History = Sequence[tuple[Allocation, Allocation]]


# --- MLGym's column player (target.py) and the payoff ---


def column_move(history: History, rng: random.Random) -> Allocation:
    """MLGym's partner: six uniform draws in 0..120, scaled down to 120 soldiers in all.

    Flooring leaves a few soldiers over; they all go to one battlefield drawn at random.
    """
    draws = [rng.randint(0, SOLDIERS) for _ in range(BATTLEFIELDS)]
    total = sum(draws)
    if total == 0:  # six zero draws (odds 121**-6); MLGym would divide by zero
        return [SOLDIERS // BATTLEFIELDS] * BATTLEFIELDS
    allocation = [x * SOLDIERS // total for x in draws]
    while sum(allocation) != SOLDIERS:
        allocation[rng.randint(0, BATTLEFIELDS - 1)] += SOLDIERS - sum(allocation)
    return allocation


def row_payoff(row: Allocation, col: Allocation) -> int:
    """+1 when the row player holds more battlefields, -1 when fewer, 0 on a tie."""
    won = sum(r > c for r, c in zip(row, col, strict=True))
    lost = sum(r < c for r, c in zip(row, col, strict=True))
    return (won > lost) - (won < lost)


# --- The strategy, in the scorer's jail ---


def check_move(move: object, where: str) -> Allocation:
    if isinstance(move, str):
        raise kubegym_eval.StrategyError(f"row_strategy returned {move} {where}; {RULE}")
    if not isinstance(move, list):
        raise kubegym_eval.StrategyError(f"row_strategy returned {move!r} {where}; {RULE}")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in move):
        raise kubegym_eval.StrategyError(
            f"row_strategy returned {move} {where}, which holds a number that is not an integer"
        )
    if len(move) != BATTLEFIELDS:
        raise kubegym_eval.StrategyError(
            f"row_strategy returned {len(move)} numbers {where}; {RULE}"
        )
    if any(x < 0 for x in move) or sum(move) > SOLDIERS:
        raise kubegym_eval.StrategyError(f"row_strategy returned {move} {where}; {RULE}")
    return move


RULE = (
    f"a move must list {BATTLEFIELDS} non-negative integers "
    f"(soldiers per battlefield) that sum to at most {SOLDIERS}"
)


def play(
    player: kubegym_eval.Strategy, games: int, rounds: int, rng: random.Random
) -> tuple[float, float]:
    """Mean and standard error of the row player's per-game mean payoff."""
    means = []
    for game in range(games):
        history: list[tuple[Allocation, Allocation]] = []
        total = 0
        for turn in range(rounds):
            where = f"in game {game + 1}, round {turn + 1}"
            row = check_move(player.move(history, where), where)
            col = column_move(history, rng)
            history.append((row, col))
            total += row_payoff(row, col)
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
