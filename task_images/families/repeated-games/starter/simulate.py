"""Plays `strategy.row_strategy` against the partner in `target.py` and prints the mean payoff.

A quick local estimate, like the evaluator's (10 rounds a game; the evaluator
plays 10,000 games with a hidden seed). Also checks that every move is 0 or 1.

Usage: python simulate.py [--games N] [--seed S]
"""

import argparse
import random
import statistics

from strategy import row_strategy
from target import PAYOFF, column_strategy

ROUNDS = 10


def play_game():
    history = []
    total = 0
    for _ in range(ROUNDS):
        row = row_strategy(history)
        col = column_strategy(history)
        if row not in (0, 1) or isinstance(row, float):
            raise SystemExit(f"row_strategy returned {row!r}; a move must be the integer 0 or 1")
        history.append((row, col))
        total += PAYOFF[row][col][0]
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
