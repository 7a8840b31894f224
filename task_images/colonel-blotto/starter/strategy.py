"""Your Colonel Blotto strategy: edit `row_strategy`, keep its name and signature.

The evaluator imports this file on its own (standard library and numpy only; no
other files of the workspace) and calls `row_strategy(history)` once per round.
`history` lists the earlier rounds as (your_allocation, partner_allocation)
tuples; return a list of 6 non-negative integers (soldiers per battlefield)
that sum to at most 120.

The strategy below is the task's baseline: a random allocation that puts
extra soldiers on a few randomly chosen battlefields.
"""

import random

SOLDIERS = 120
BATTLEFIELDS = 6


def row_strategy(history):
    """Return the row player's allocation for the next round."""
    allocation = [0] * BATTLEFIELDS
    # Reinforce a random number of battlefields (a field may be drawn twice).
    for _ in range(random.randint(1, BATTLEFIELDS)):
        allocation[random.randint(0, BATTLEFIELDS - 1)] += random.randint(10, 30)
    # Spread what is left, at random, over the fields nobody reinforced.
    left = SOLDIERS - sum(allocation)
    if left > 0:
        for field in [i for i, n in enumerate(allocation) if n == 0]:
            allocation[field] = random.randint(0, left)
            left -= allocation[field]
    # Scale to exactly 120: floor each share, then give the rest to one random field.
    total = sum(allocation)
    scaled = [n * SOLDIERS // total for n in allocation]
    while sum(scaled) != SOLDIERS:
        scaled[random.randint(0, BATTLEFIELDS - 1)] += SOLDIERS - sum(scaled)
    return scaled
