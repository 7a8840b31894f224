"""Scores a battle-of-the-sexes strategy against MLGym's column player.

Usage: evaluate.py --submission strategy.py --split validation|test --data schedule=PATH

The game: moves 0 and 1, the row player preferring 0 and the partner 1, and MLGym's
partner (target.py), who follows the row player's first move of the game most of the
time, with the evaluator's own generator. Played and scored by the repeated-games
family's loop (repeated_game.py, beside this script), which says how.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import repeated_game

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


GAME = repeated_game.Game(
    column_move, repeated_game.matrix_payoff(PAYOFF), repeated_game.check_binary_move
)

if __name__ == "__main__":
    repeated_game.main(GAME, __doc__)
