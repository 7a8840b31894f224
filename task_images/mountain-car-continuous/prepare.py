"""Writes the MountainCarContinuous task's evaluation protocols: the gymnax family's, for ``MountainCarContinuous-v0``.

MLGym's evaluate.py rolls this environment out for 200 steps (``max_frames``);
the rest (seeds, environments per seed) is the family's (../families/gymnax/protocols.py).
"""

import protocols

if __name__ == "__main__":
    protocols.main(env="MountainCarContinuous-v0", horizon=200)
