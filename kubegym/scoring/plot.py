"""Drawing both performance profiles (best attempt, best submission) side by side.

Called by `kubegym aup --plot`; returns a matplotlib Figure and leaves saving to
the caller. matplotlib is imported here, lazily, so the rest of scoring never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubegym.errors import ConfigError
from kubegym.scoring.columns import BEST_ATTEMPT, BEST_SUBMISSION
from kubegym.scoring.profiles import AupResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLES = ("-", "--", ":", "-.")
_TITLES = {BEST_ATTEMPT: "Best attempt", BEST_SUBMISSION: "Best submission"}


def draw_profiles(result: AupResult, *, title: str | None = None) -> Figure:
    """Two step plots of rho(tau), one line per method, AUP in the legend.

    Args:
        result: from `profiles.compute_aup`.
        title: a title over both panels.

    Returns:
        A Figure on the Agg canvas (no display needed); save it with ``savefig``.

    Raises:
        ConfigError: matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "plotting needs matplotlib", hint="pip install 'kubegym[report]'"
        ) from exc

    figure = Figure(figsize=(12, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2, sharey=True)
    order = result.aup.sort_values(BEST_ATTEMPT, ascending=False, kind="stable").index
    for ax, name in zip(axes, (BEST_ATTEMPT, BEST_SUBMISSION), strict=True):
        profile = result.profiles[name]
        for index, method in enumerate(order):
            aup = float(result.aup.loc[method, name])
            ax.step(
                profile.index.to_numpy(),
                profile[method].to_numpy(),
                where="post",
                color=f"C{index % 10}",
                linestyle=_STYLES[index // 10 % len(_STYLES)],
                label=f"{method} (AUP {aup:.3f})",
            )
        ax.set_title(f"{_TITLES[name]} (tau_max = {result.tau_max:g})")
        ax.set_xlabel(r"$\tau$ ($\log_{10}$ of the performance ratio)")
        ax.set_xlim(0.0, result.tau_max)
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    axes[0].set_ylabel(r"$\rho(\tau)$: share of tasks within $\tau$ of the best")
    if title:
        figure.suptitle(title)
    return figure
