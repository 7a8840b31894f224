"""Scores an iterated prisoner's dilemma strategy against MLGym's mix of column players.

Usage: evaluate.py --submission strategy.py --split validation|test --data schedule=PATH

The game: cooperate (0) or defect (1), the classic payoffs, and a partner who draws
one of MLGym's eleven column players (target.py) for every single move, with the
evaluator's own generator. Played and scored by the repeated-games family's loop
(repeated_game.py, beside this script), which says how.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import repeated_game

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


GAME = repeated_game.Game(
    column_move, repeated_game.matrix_payoff(PAYOFF), repeated_game.check_binary_move
)

if __name__ == "__main__":
    repeated_game.main(GAME, __doc__)
