"""Writes the MetaMaze task's evaluation protocols: the gymnax family's, for ``MetaMaze-misc``.

MLGym's evaluate.py rolls this environment out for 199 steps (``max_frames``);
the rest (seeds, environments per seed) is the family's (../families/gymnax/protocols.py).
"""

import protocols

if __name__ == "__main__":
    protocols.main(env="MetaMaze-misc", horizon=199)
