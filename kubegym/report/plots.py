"""The report's figures as PNG bytes: the performance profiles and cost versus AUP.

Called by `kubegym.report.sections`; the renderers write the bytes to files
(markdown) or embed them (HTML). matplotlib (the ``report`` extra) is imported
here, lazily, and only on the Agg canvas, so no display is ever needed.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Final

import pandas as pd

from kubegym.errors import ConfigError
from kubegym.report.tables import COST_PER_TRIAL
from kubegym.scoring.columns import BEST_ATTEMPT, BEST_SUBMISSION
from kubegym.scoring.profiles import AupResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI: Final = 120
"""The resolution of every figure (the local runner's profiles.png uses the same)."""
_LABELS = {BEST_ATTEMPT: "Best attempt", BEST_SUBMISSION: "Best submission"}


def profiles_png(result: AupResult, title: str) -> bytes:
    """Both performance profiles side by side (`kubegym.scoring.plot.draw_profiles`)."""
    from kubegym.scoring.plot import draw_profiles

    return _png(draw_profiles(result, title=title))


def cost_scatter_png(frame: pd.DataFrame, title: str) -> bytes:
    """Cost per trial against AUP, one panel per profile, the Pareto front drawn as a line.

    Args:
        frame: from `tables.pareto` (index agent).
        title: over both panels.
    """
    figure = _figure(figsize=(11, 4.8))
    axes = figure.subplots(1, 2, sharey=True)
    cost = frame[COST_PER_TRIAL].to_numpy(dtype=float)
    for ax, profile in zip(axes, (BEST_ATTEMPT, BEST_SUBMISSION), strict=True):
        aup = frame[f"aup_{profile}"].to_numpy(dtype=float)
        front = frame[f"pareto_{profile}"].to_numpy(dtype=bool)
        ax.scatter(aup[~front], cost[~front], color="0.55", label="dominated", zorder=2)
        ax.scatter(aup[front], cost[front], color="C3", label="Pareto front", zorder=3)
        order = aup[front].argsort()
        ax.plot(aup[front][order], cost[front][order], color="C3", alpha=0.6, zorder=1)
        for name, x, y in zip(frame.index, aup, cost, strict=True):
            ax.annotate(
                str(name),
                (x, y),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
            )
        ax.set_ylim(bottom=0.0)  # costs are never negative; keep zero in view
        ax.set_title(f"{_LABELS[profile]}: cost vs AUP")
        ax.set_xlabel("AUP (higher is better)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    axes[0].set_ylabel("USD per trial (lower is better)")
    figure.suptitle(title)
    return _png(figure)


def _figure(figsize: tuple[float, float]) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the report's plots need matplotlib", hint="pip install 'kubegym[report]'"
        ) from exc
    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


__all__ = ["DPI", "cost_scatter_png", "profiles_png"]
