"""Writes the battle-of-the-sexes task's split files (the repeated-games family's schedules.py).

Each gives the seed of the partner's random generator: validation and test differ.
"""

import schedules

if __name__ == "__main__":
    schedules.main(game="battle-of-the-sexes", splits={"validation": 20250202, "test": 20250808})
