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
LABEL_CHARS = 48
"""The longest name a legend shows; longer ones are cut with an ellipsis."""
_CHAR_INCHES = 0.075
"""The width of one character of a ``small`` legend entry, roughly (DejaVu Sans, 9 pt)."""
_ROW_INCHES = 0.22
"""The height one row of legend entries adds to a figure."""


def plain_label(name: object, limit: int = LABEL_CHARS) -> str:
    """A method's name as matplotlib should show it: as written, never as mathtext.

    Dollar signs are escaped (an agent named ``$\\frac{`` would otherwise fail the
    drawing), and a name longer than ``limit`` characters is cut with an ellipsis.
    """
    text = " ".join(str(name).split())
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")


def legend_layout(labels: list[str], width: float) -> tuple[int, float]:
    """Columns for a legend of ``labels`` under a figure ``width`` inches wide, and the
    inches of height its rows need."""
    longest = max((len(label) for label in labels), default=1)
    columns = max(1, min(len(labels), int(width // (longest * _CHAR_INCHES + 0.6))))
    rows = -(-len(labels) // columns)
    return columns, rows * _ROW_INCHES + 0.15


def draw_profiles(result: AupResult, *, title: str | None = None) -> Figure:
    """Two step plots of rho(tau), one line per method; one legend under both with each AUP.

    The legend sits outside the axes (constrained layout makes room for it), so with
    twenty methods and long names it still covers no line; the figure grows taller
    with the legend's rows and keeps its width.

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

    order = result.aup.sort_values(BEST_ATTEMPT, ascending=False, kind="stable").index
    labels = [
        f"{plain_label(method)} (AUP {result.aup.loc[method, BEST_ATTEMPT]:.3f} / "
        f"{result.aup.loc[method, BEST_SUBMISSION]:.3f})"
        for method in order
    ]
    width = 12.0
    columns, legend_height = legend_layout(labels, width)
    figure = Figure(figsize=(width, 4.8 + legend_height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2, sharey=True)
    for ax, name in zip(axes, (BEST_ATTEMPT, BEST_SUBMISSION), strict=True):
        profile = result.profiles[name]
        for index, (method, label) in enumerate(zip(order, labels, strict=True)):
            ax.step(
                profile.index.to_numpy(),
                profile[method].to_numpy(),
                where="post",
                color=f"C{index % 10}",
                linestyle=_STYLES[index // 10 % len(_STYLES)],
                label=label,
            )
        ax.set_title(f"{_TITLES[name]} (" + r"$\tau_{max}$" + f" = {result.tau_max:g})")
        ax.set_xlabel(r"$\tau$: $\log_{10}$ of the ratio to the best score (unitless)")
        ax.set_xlim(0.0, result.tau_max)
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\rho(\tau)$: share of tasks within $\tau$ of the best")
    handles, shown = axes[0].get_legend_handles_labels()
    figure.legend(
        handles,
        shown,
        loc="outside lower center",
        ncols=columns,
        fontsize="small",
        title="method (AUP best attempt / best submission)",
        title_fontsize="small",
        frameon=False,
    )
    if title:
        figure.suptitle(plain_label(title, limit=120))
    return figure
