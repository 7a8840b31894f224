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
from kubegym.scoring import plot
from kubegym.scoring.columns import BEST_ATTEMPT, BEST_SUBMISSION
from kubegym.scoring.profiles import AupResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI: Final = 120
"""The resolution of every figure (the local runner's profiles.png uses the same)."""
_LABELS = {BEST_ATTEMPT: "Best attempt", BEST_SUBMISSION: "Best submission"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def profiles_png(result: AupResult, title: str) -> bytes:
    """Both performance profiles side by side (`kubegym.scoring.plot.draw_profiles`)."""
    return _png(plot.draw_profiles(result, title=title))


def cost_scatter_png(frame: pd.DataFrame, title: str) -> bytes:
    """`cost_scatter` as PNG bytes."""
    return _png(cost_scatter(frame, title))


def cost_scatter(frame: pd.DataFrame, title: str) -> Figure:
    """Cost per trial against AUP, one panel per profile, the Pareto front drawn as a line.

    Each agent has its own colour and marker, named in one legend under both panels
    (names written next to the points overlapped once a run had a dozen agents).

    Args:
        frame: from `tables.pareto` (index agent).
        title: over both panels.
    """
    names = [plot.plain_label(name) for name in frame.index]
    width = 11.0
    columns, legend_height = plot.legend_layout(names, width)
    figure = _figure(figsize=(width, 4.8 + legend_height))
    axes = figure.subplots(1, 2, sharey=True)
    cost = frame[COST_PER_TRIAL].to_numpy(dtype=float)
    for ax, profile in zip(axes, (BEST_ATTEMPT, BEST_SUBMISSION), strict=True):
        aup = frame[f"aup_{profile}"].to_numpy(dtype=float)
        front = frame[f"pareto_{profile}"].to_numpy(dtype=bool)
        order = aup[front].argsort()
        ax.plot(
            aup[front][order],
            cost[front][order],
            color="0.3",
            alpha=0.6,
            zorder=1,
            label="Pareto front",
        )
        for index, (name, x, y) in enumerate(zip(names, aup, cost, strict=True)):
            ax.scatter(
                [x],
                [y],
                color=f"C{index % 10}",
                marker=_MARKERS[index // 10 % len(_MARKERS)],
                edgecolors="black" if front[index] else "none",
                s=42,
                zorder=3,
                label=name,
            )
        ax.set_ylim(bottom=0.0)  # costs are never negative; keep zero in view
        ax.set_title(f"{_LABELS[profile]}: cost vs AUP")
        ax.set_xlabel("AUP (unitless; higher is better)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("USD per trial (lower is better)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=columns,
        fontsize="small",
        title="agent (outlined: on the Pareto front)",
        title_fontsize="small",
        frameon=False,
    )
    figure.suptitle(plot.plain_label(title, limit=120))
    return figure


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


__all__ = ["DPI", "cost_scatter", "cost_scatter_png", "profiles_png"]
