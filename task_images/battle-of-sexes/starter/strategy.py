"""Your strategy for the battle of the sexes: edit `row_strategy`, keep its name and signature.

The evaluator imports this file on its own (standard library and numpy only; no
other files of the workspace) and calls `row_strategy(history)` once per round.
`history` lists the earlier rounds of the current game as (your_move, partner_move)
tuples; return 0 or 1.

The strategy below is the task's baseline: open with your favourite, then mostly
follow the partner's last move.
"""

import random


def row_strategy(history):
    """Return the row player's next move (0 or 1)."""
    if not history:
        return 0  # the move you prefer
    my_last, partner_last = history[-1]
    draw = random.random()
    if draw < 0.1:
        return 0
    if draw < 0.2:
        return 1
    if draw < 0.9:
        return partner_last  # meet the partner where they were
    return my_last
