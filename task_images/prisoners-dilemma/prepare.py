"""Writes the prisoner's dilemma task's split files (the repeated-games family's schedules.py).

Each gives the seed of the opponents' random generator: validation and test differ.
"""

import schedules

if __name__ == "__main__":
    schedules.main(
        game="iterated-prisoners-dilemma", splits={"validation": 20250101, "test": 20250707}
    )
