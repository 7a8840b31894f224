"""Bootstrap intervals over seeds."""

from __future__ import annotations

import pandas as pd
import pytest

from kubegym.errors import ConfigError
from kubegym.scoring import bootstrap_aup
from tests.unit.scoring.hand_case import table


def seeded_trials() -> pd.DataFrame:
    """The hand case plus two extra, weaker seeds for A on each task."""
    extra = pd.DataFrame(
        [
            ("acc", "max", "A", 0.55, 0.52),
            ("acc", "max", "A", 0.6, 0.5),
            ("loss", "min", "A", 1.9, 1.95),
            ("loss", "min", "A", 1.5, 1.8),
        ],
        columns=table().columns,
    )
    return pd.concat([table(), extra], ignore_index=True)


def test_one_seed_per_method_gives_a_degenerate_interval() -> None:
    # Nothing to resample: every interval collapses onto the hand-worked AUP.
    result = bootstrap_aup(table(), n_resamples=20, seed=1).set_index(["method", "profile"])
    assert result.loc[("D", "best_attempt")].tolist() == [0.549, 0.549, 0.549]
    assert result.loc[("baseline", "best_submission")].tolist() == [0.358, 0.358, 0.358]


def test_intervals_are_reproducible_and_bracket_plausible_values() -> None:
    first = bootstrap_aup(seeded_trials(), n_resamples=200, seed=7)
    again = bootstrap_aup(seeded_trials(), n_resamples=200, seed=7)
    pd.testing.assert_frame_equal(first, again)
    a = first.set_index(["method", "profile"]).loc[("A", "best_attempt")]
    # The point estimate uses A's best seeds (0.8 and 1.0: ratio 1 on both tasks).
    assert a["aup"] == 0.7
    # Resamples that miss A's best seed only lower its AUP; the upper end stays 0.7.
    assert a["ci_high"] == 0.7
    assert a["ci_low"] < 0.7
    assert (first["ci_low"] <= first["ci_high"]).all()


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_aup(table(), confidence=1.5)
    with pytest.raises(ConfigError, match="n_resamples"):
        bootstrap_aup(table(), n_resamples=0)
