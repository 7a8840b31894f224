"""Every plot of the report reads with twenty agents of long names: labels on, no text overlaps.

Checked with matplotlib's own layout: the figure is drawn, then every piece of text
(titles, axis labels, tick labels, legend entries) is measured in the renderer's pixels.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from kubegym.index import sources
from kubegym.report import loading, plots, sections, tables
from kubegym.scoring import leaderboard as leaderboards
from kubegym.scoring import plot
from tests.support import wide_run


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> loading.RunData:
    folder = wide_run.write_wide_run(tmp_path_factory.mktemp("wide") / "wide")
    return loading.load_run(sources.open_source(str(folder)))


def _figures(run: loading.RunData) -> dict[str, Figure]:
    board = leaderboards.compute_leaderboard(tables.tidy(run), best_submission=run.best_submission)
    assert board.result is not None
    front = tables.pareto(tables.costs(run.trials), tables.leaderboard(board))
    assert front is not None
    return {
        "profiles": plot.draw_profiles(board.result, title="wide: performance profiles"),
        "cost": plots.cost_scatter(front, "wide: cost per trial versus AUP"),
    }


def _texts(figure: Figure) -> list[Text]:
    """Every text the figure draws: tick labels only of ticks inside the axes' limits."""
    ticks: set[int] = set()
    shown: list[Text] = []
    for ax in figure.axes:
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            for tick in axis.get_major_ticks():
                ticks.add(id(tick.label1))
                ticks.add(id(tick.label2))
                inside = min(low, high) - 1e-9 <= tick.get_loc() <= max(low, high) + 1e-9
                if inside and tick.label1.get_visible() and tick.label1.get_text():
                    shown.append(tick.label1)
    others = [
        t
        for t in figure.findobj(Text)
        if id(t) not in ticks and t.get_visible() and t.get_text().strip()
    ]
    return shown + others


@pytest.mark.parametrize("name", ["profiles", "cost"])
def test_every_label_is_inside_the_figure_and_none_overlaps(
    wide: loading.RunData, name: str
) -> None:
    figure = _figures(wide)[name]
    canvas = figure.canvas
    canvas.draw()
    renderer = canvas.get_renderer()  # type: ignore[attr-defined]
    page = figure.bbox
    boxes: list[tuple[str, Bbox]] = []
    for text in _texts(figure):
        box = text.get_window_extent(renderer)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, f"off the figure: {text}"
        assert page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, f"off the figure: {text}"
        boxes.append((text.get_text(), box))
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        overlap = Bbox.intersection(box_a, box_b)
        assert overlap is None or overlap.width * overlap.height < 1.0, f"{a!r} overlaps {b!r}"
    axes = [ax.get_window_extent(renderer) for ax in figure.axes]
    legend = figure.legends[0].get_window_extent(renderer)
    assert all(Bbox.intersection(legend, ax) is None for ax in axes), "legend on the data"


@pytest.mark.parametrize("name", ["profiles", "cost"])
def test_every_axis_has_a_title_and_labels(wide: loading.RunData, name: str) -> None:
    figure = _figures(wide)[name]
    for ax in figure.axes:
        assert ax.get_title()
        assert ax.get_xlabel()
    assert figure.axes[0].get_ylabel()
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    agents = [plot.plain_label(a) for a in wide.agents]
    assert all(any(label.startswith(agent) for label in labels) for agent in agents)


def test_a_name_in_mathtext_is_drawn_as_written(wide: loading.RunData) -> None:
    # An agent named "$\frac{broken" once made matplotlib raise while drawing.
    assert wide_run.MATH_AGENT in wide.agents
    assert plot.plain_label(wide_run.MATH_AGENT) == r"\$\frac{broken"
    report = sections.build_report(wide)
    assert [f.name for f in report.figures] == [sections.PROFILES_PNG, sections.COST_PNG]
    assert all(f.alt and f.caption for f in report.figures)


def test_a_long_name_is_cut_in_the_legend() -> None:
    label = plot.plain_label("x" * 500)
    assert len(label) == plot.LABEL_CHARS and label.endswith("\u2026")


def test_the_wide_run_is_what_the_layout_tests_think(tmp_path: Path) -> None:
    folder = wide_run.write_wide_run(tmp_path / "again")
    run = loading.load_run(sources.open_source(str(folder)))
    assert len(run.agents) == 20 and wide_run.SCRIPT_AGENT in run.agents
