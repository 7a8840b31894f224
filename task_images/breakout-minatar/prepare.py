"""Writes the Breakout-MinAtar task's evaluation protocols: the gymnax family's, for ``Breakout-MinAtar``.

MLGym's evaluate.py rolls this environment out for 999 steps (``max_frames``);
the rest (seeds, environments per seed) is the family's (../families/gymnax/protocols.py).
"""

import protocols

if __name__ == "__main__":
    protocols.main(env="Breakout-MinAtar", horizon=999)
