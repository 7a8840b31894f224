"""Rendering a `sections.Report`: markdown (+ PNG files), one self-contained HTML file, or JSON.

Called by `kubegym report` (kubegym/cli/report.py) through `write_report`,
and for stdout through `markdown`. No template engine and no external assets:
the HTML carries its CSS inline and its figures as base64 ``data:`` URIs, so
the one file can be mailed or attached to a paper's supplement as it is.

Markdown and HTML show each table as people read it (`display.show`: headers in
words, CIs as one column, sensible precision); JSON keeps every column at full
precision. Every name in a run (agents, tasks, messages) is escaped: an agent
chooses its own trajectory text and, through a tampered results.json, its name.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd

from kubegym.errors import ConfigError
from kubegym.report import display
from kubegym.report.sections import Report, Table

Format = Literal["md", "html", "json"]
FORMATS: Final = ("md", "html", "json")
FILES: Final[dict[str, str]] = {"md": "report.md", "html": "report.html", "json": "report.json"}

# Tables fit the page by wrapping: headers and text cells may break anywhere (a
# digest or a hostile name has no spaces), numbers never. A table still too wide
# scrolls inside its own box, never the page; a long one scrolls in a box of 80% of
# the window under a header that stays in view. Printed, everything is shown.
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
main { max-width: 90rem; margin: 0 auto; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
p, ul { max-width: 72rem; overflow-wrap: anywhere; }
p.caption, figcaption { color: #555; margin: 0.3rem 0 0.6rem; }
div.table { max-width: 100%; max-height: 80vh; overflow: auto; margin-bottom: 1rem; }
table { border-collapse: separate; border-spacing: 0; font-size: 0.85rem; }
th, td { border: solid #ccc; border-width: 0 1px 1px 0; padding: 0.2rem 0.5rem;
  vertical-align: top; overflow-wrap: anywhere; }
tr > :first-child { border-left-width: 1px; }
thead th { position: sticky; top: 0; z-index: 1; background: #f3f3f3; text-align: left;
  border-top-width: 1px; font-weight: 600; min-width: 4.5em; }
td { max-width: 40rem; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
td.number { white-space: nowrap; }
figure { margin: 0 0 2rem; }
figure img { display: block; max-width: 100%; height: auto; }
ul.notes { color: #7a4a00; }
@media print { div.table { max-height: none; overflow: visible; } thead th { position: static; } }
"""


def markdown(report: Report, *, with_figures: bool = True) -> str:
    """The report as markdown: a heading, the notes, every table, and links to the figures."""
    parts = [f"# Report: {report.run}", ""]
    parts += [f"- {note}" for note in report.notes]
    if report.notes:
        parts.append("")
    for table in report.tables:
        parts += [f"## {table.title}", "", table.caption, "", *_markdown_table(table), ""]
    if with_figures:
        for figure in report.figures:
            parts += [f"## {figure.title}", "", f"![{figure.title}]({figure.name})", ""]
            if figure.caption:
                parts += [figure.caption, ""]
    return "\n".join(parts)


def html_page(report: Report) -> str:
    """The report as one HTML page with inline CSS and embedded PNGs."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Report: {html.escape(report.run)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Report: {html.escape(report.run)}</h1>",
    ]
    if report.notes:
        out.append('<ul class="notes">')
        out += [f"<li>{html.escape(note)}</li>" for note in report.notes]
        out.append("</ul>")
    for table in report.tables:
        out.append(f'<section id="{html.escape(table.key)}">')
        out.append(f"<h2>{html.escape(table.title)}</h2>")
        out.append(f'<p class="caption">{html.escape(table.caption)}</p>')
        out += _html_table(table)
        out.append("</section>")
    for figure in report.figures:
        data = base64.b64encode(figure.png).decode("ascii")
        alt = html.escape(figure.alt or figure.title)
        out.append(f"<h2>{html.escape(figure.title)}</h2>")
        out.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">')
        out.append(f"<figcaption>{html.escape(figure.caption or figure.title)}</figcaption>")
        out.append("</figure>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def json_document(report: Report) -> dict[str, Any]:
    """The report as JSON: the leaderboard (leaderboard.json's shape) and every table as records."""
    return {
        "run": report.run,
        "notes": report.notes,
        "leaderboard": report.leaderboard,
        "tables": {
            table.key: {
                "title": table.title,
                "caption": table.caption,
                "records": records(table.frame),
            }
            for table in report.tables
        },
        "figures": [figure.name for figure in report.figures],
    }


def write_report(report: Report, out: Path, fmt: Format) -> Path:
    """Write the report into folder ``out`` in one format; returns the main file's path.

    ``md`` writes report.md and the figures as PNG files next to it; ``html``
    one report.html; ``json`` one report.json.

    Raises:
        ConfigError: the format is unknown or the folder cannot be written.
    """
    if fmt not in FILES:
        raise ConfigError(f"unknown format {fmt!r}", field="--format", hint="md, html or json")
    path = out / FILES[fmt]
    try:
        out.mkdir(parents=True, exist_ok=True)
        if fmt == "md":
            for figure in report.figures:
                (out / figure.name).write_bytes(figure.png)
            path.write_text(markdown(report), encoding="utf-8")
        elif fmt == "html":
            path.write_text(html_page(report), encoding="utf-8")
        else:
            document = _finite(json_document(report))
            text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
            path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {out}: {exc}", field="--out") from exc
    return path


def _finite(value: Any) -> Any:
    """`value` with every infinite or NaN float as None: JSON has no such numbers, and a
    trial's results.json (written beside an untrusted agent) may carry one."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-ready records: the named index as the first field, NaN as null."""
    header, rows = _rows(frame)
    return [{name: _plain(value) for name, value in zip(header, row, strict=True)} for row in rows]


# --- cells ------------------------------------------------------------------------------


def _rows(frame: pd.DataFrame) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The header and rows of a table, its index (when named) as the first column."""
    shown = frame.reset_index() if frame.index.name is not None else frame
    header = [str(c) for c in shown.columns]
    return header, shown.itertuples(index=False, name=None)


def _plain(value: Any) -> Any:
    """A cell as a JSON value."""
    return display.plain(value)


def _shown(table: Table) -> display.Shown:
    return display.show(
        table.frame, labels=table.labels, formats=table.formats, turn_as=table.turn_as
    )


def _markdown_table(table: Table) -> list[str]:
    shown = _shown(table)
    if not shown.rows:
        return ["(none)"]
    lines = ["| " + " | ".join(_escape_md(h) for h in shown.header) + " |"]
    lines.append("| " + " | ".join("---:" if n else "---" for n in shown.numeric) + " |")
    lines += ["| " + " | ".join(_escape_md(cell) for cell in row) + " |" for row in shown.rows]
    return lines


def _escape_md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _html_table(table: Table) -> list[str]:
    shown = _shown(table)
    kinds = [' class="number"' if n else "" for n in shown.numeric]
    head = "".join(
        f'<th scope="col"{kind}>{html.escape(h)}</th>'
        for h, kind in zip(shown.header, kinds, strict=True)
    )
    out = ['<div class="table"><table>', f"<thead><tr>{head}</tr></thead><tbody>"]
    for row in shown.rows:
        cells = "".join(
            f"<td{kind}>{html.escape(cell)}</td>" for cell, kind in zip(row, kinds, strict=True)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    return out


__all__ = [
    "FILES",
    "FORMATS",
    "Format",
    "html_page",
    "json_document",
    "markdown",
    "records",
    "write_report",
]
