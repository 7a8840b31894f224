"""The partner (column player) your strategy meets, as the evaluator plays it.

Every round the partner draws six whole numbers uniformly from 0 to 120, scales
them down to 120 soldiers in all (each share rounded down), and puts the few
soldiers left over on one battlefield drawn at random. It ignores `history`. The
evaluator uses its own random generator and a hidden seed.
"""

import random

SOLDIERS = 120
BATTLEFIELDS = 6


def column_strategy(history):
    """The partner's allocation for the next round."""
    draws = [random.randint(0, SOLDIERS) for _ in range(BATTLEFIELDS)]
    total = sum(draws)
    if total == 0:
        return [SOLDIERS // BATTLEFIELDS] * BATTLEFIELDS
    allocation = [x * SOLDIERS // total for x in draws]
    while sum(allocation) != SOLDIERS:
        allocation[random.randint(0, BATTLEFIELDS - 1)] += SOLDIERS - sum(allocation)
    return allocation
