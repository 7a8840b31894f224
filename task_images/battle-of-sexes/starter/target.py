"""The partner (column player) your strategy meets, as the evaluator plays it.

The partner sees `history` as (row_move, column_move) pairs: index 0 is your
move, index 1 its own. It opens with 1 (its favourite); after that it plays your
move of the first round of the game with probability 0.8, and the other move
otherwise. The evaluator uses its own random generator and a hidden seed.
"""

import random

# The payoffs, PAYOFF[your move][the partner's move] = (yours, the partner's):
# you prefer 0, the partner 1.
PAYOFF = (((2, 1), (0, 0)), ((0, 0), (1, 2)))


def column_strategy(history):
    """The partner's next move."""
    if not history:
        return 1
    first = history[0][0]
    return first if random.random() < 0.8 else 1 - first
