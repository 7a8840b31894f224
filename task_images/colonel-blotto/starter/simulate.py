"""Plays `strategy.row_strategy` against the partner in `target.py` and prints the mean payoff.

A quick local estimate, like the evaluator's (10 rounds a simulation; the
evaluator plays 10,000 simulations with a hidden seed). Also checks that every
allocation is valid: 6 non-negative integers summing to at most 120.

Usage: python simulate.py [--games N] [--seed S]
"""

import argparse
import random
import statistics

from strategy import row_strategy
from target import BATTLEFIELDS, SOLDIERS, column_strategy

ROUNDS = 10


def check(allocation):
    ok = (
        len(allocation) == BATTLEFIELDS
        and all(isinstance(n, int) and n >= 0 for n in allocation)
        and sum(allocation) <= SOLDIERS
    )
    if not ok:
        raise SystemExit(
            f"row_strategy returned {allocation!r}; an allocation must list {BATTLEFIELDS} "
            f"non-negative integers that sum to at most {SOLDIERS}"
        )


def payoff(row, col):
    """+1 when the row player holds more battlefields, -1 when fewer, 0 on a tie."""
    won = sum(r > c for r, c in zip(row, col, strict=True))
    lost = sum(r < c for r, c in zip(row, col, strict=True))
    return (won > lost) - (won < lost)


def play_game():
    history = []
    total = 0
    for _ in range(ROUNDS):
        row = row_strategy(history)
        col = column_strategy(history)
        check(row)
        history.append((row, col))
        total += payoff(row, col)
    return total / ROUNDS


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    random.seed(args.seed)
    scores = [play_game() for _ in range(args.games)]
    error = statistics.stdev(scores) / len(scores) ** 0.5 if len(scores) > 1 else 0.0
    print(f"mean payoff over {args.games} games: {statistics.fmean(scores):.4f} ± {error:.4f}")


if __name__ == "__main__":
    main()
