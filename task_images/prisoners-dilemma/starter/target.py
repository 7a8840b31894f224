"""The partner (column player) your strategy meets, as the evaluator plays it.

For every single move the partner draws one of the eleven players below
uniformly at random (`column_strategy`), so within one game it switches between
them. Every player sees `history` as (row_move, column_move) pairs: index 0 is
your move, index 1 the partner's own. The evaluator uses the same players with
its own random generator and its own, hidden seed.
"""

import random

# The payoffs, PAYOFF[your move][the partner's move] = (yours, the partner's):
# 0 cooperates, 1 defects.
PAYOFF = (((3, 3), (0, 5)), ((5, 0), (1, 1)))


def simple_random_column(history):
    """Defect first; then cooperate (1/3), defect (1/6), repeat itself (2/5) or flip your last move."""
    if not history:
        return 1
    last = history[-1]
    draw = random.random()
    if draw < 0.3333:
        return 0
    if draw < 0.5:
        return 1
    if draw < 0.9:
        return last[1]
    return 1 - last[0]


def tit_for_tat(history):
    """Cooperate first, then copy your last move."""
    return history[-1][0] if history else 0


def always_cooperate(history):
    return 0


def always_defect(history):
    return 1


def random_choice(history):
    return random.choice([0, 1])


def grim_trigger(history):
    """Cooperate until you have defected once in this game, then defect."""
    return 1 if any(row == 1 for row, _ in history) else 0


def pavlov(history):
    """Cooperate first; cooperate when both moved alike last round, else defect."""
    if not history:
        return 0
    return 0 if history[-1][0] == history[-1][1] else 1


def tit_for_two_tats(history):
    """Defect only after you defected twice in a row."""
    if len(history) < 2:
        return 0
    return 1 if history[-1][0] == 1 and history[-2][0] == 1 else 0


def suspicious_tit_for_tat(history):
    """Defect first, then copy your last move."""
    return history[-1][0] if history else 1


def coin_flip(history):
    return 0 if random.random() < 0.5 else 1


def forgiving_tit_for_tat(history):
    """Copy your last move, but cooperate after you defected twice in a row."""
    if not history:
        return 0
    if len(history) >= 2 and history[-1][0] == 1 and history[-2][0] == 1:
        return 0
    return history[-1][0]


COLUMN_PLAYERS = (
    simple_random_column,
    tit_for_tat,
    always_cooperate,
    always_defect,
    random_choice,
    grim_trigger,
    pavlov,
    tit_for_two_tats,
    suspicious_tit_for_tat,
    coin_flip,
    forgiving_tit_for_tat,
)


def column_strategy(history):
    """The partner's next move: a player drawn at random for this move."""
    return random.choice(COLUMN_PLAYERS)(history)
