"""Writes the Colonel Blotto task's split files (the repeated-games family's schedules.py).

Each gives the seed of the partner's random generator: validation and test differ.
A game here is one simulation of 10 rounds; the board (6 battlefields, 120 soldiers
a side) is fixed in evaluate.py.
"""

import schedules

if __name__ == "__main__":
    schedules.main(game="colonel-blotto", splits={"validation": 20250303, "test": 20250909})
