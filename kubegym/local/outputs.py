"""What a local run leaves in its output folder besides the trials: the rollups and the plot.

Written by the local runner (`kubegym.local.runner`) at the end of every run,
resumed or not, from the trials' results. The texts are `kubegym.rollups`'s, the
same the operator writes to a cluster run's store; this module only puts them
on disk (each file atomically) and draws the performance-profile plot.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kubegym import rollups, scoring


def write(folder: Path, texts: Mapping[str, str]) -> list[Path]:
    """Write each rollup (`kubegym.rollups.files`) into ``folder``, atomically; the paths."""
    written = []
    for name, text in texts.items():
        path = folder / name
        partial = path.with_name(f".{name}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        written.append(path)
    return written


def draw(result: scoring.AupResult, folder: Path, title: str) -> Path:
    """The performance-profile plot of a run, as ``folder/profiles.png``."""
    # matplotlib is heavy and optional (the report extra): imported only to draw.
    from kubegym.scoring.plot import draw_profiles

    path = folder / rollups.PROFILES_PNG
    figure = draw_profiles(result, title=title)
    figure.savefig(path, dpi=120)
    return path
