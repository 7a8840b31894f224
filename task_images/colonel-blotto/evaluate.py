"""Scores a Colonel Blotto strategy against MLGym's random column player.

Usage: evaluate.py --submission strategy.py --split validation|test --data schedule=PATH

Each round is one game of Colonel Blotto: both players split 120 soldiers over 6
battlefields; whoever holds more battlefields wins (+1 to the winner, -1 to the
loser, 0 each on a tie). This script says what the game is: MLGym's column player
(its target.py, drawing from the evaluator's generator), the payoff and a valid
allocation. The repeated-games family's loop (repeated_game.py, beside this script)
reads the split's schedule (made by prepare.py: the seed, 10 rounds a simulation,
10,000 simulations, scaled by ``KUBEGYM_BUDGET``), plays the submission's
``row_strategy(history)`` in the scorer's jail and reports ``Score``, the row player's
mean payoff per round, as MLGym's evaluate.py does. A strategy that fails to import,
raises, returns an invalid allocation or is too slow makes it exit non-zero with the
reason.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import repeated_game

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
        raise repeated_game.StrategyError(f"row_strategy returned {move} {where}; {RULE}")
    if not isinstance(move, list):
        raise repeated_game.StrategyError(f"row_strategy returned {move!r} {where}; {RULE}")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in move):
        raise repeated_game.StrategyError(
            f"row_strategy returned {move} {where}, which holds a number that is not an integer"
        )
    if len(move) != BATTLEFIELDS:
        raise repeated_game.StrategyError(
            f"row_strategy returned {len(move)} numbers {where}; {RULE}"
        )
    if any(x < 0 for x in move) or sum(move) > SOLDIERS:
        raise repeated_game.StrategyError(f"row_strategy returned {move} {where}; {RULE}")
    return move


RULE = (
    f"a move must list {BATTLEFIELDS} non-negative integers "
    f"(soldiers per battlefield) that sum to at most {SOLDIERS}"
)


GAME = repeated_game.Game(column_move, row_payoff, check_move)

if __name__ == "__main__":
    repeated_game.main(GAME, __doc__)
