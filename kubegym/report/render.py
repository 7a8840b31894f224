"""Rendering a `sections.Report`: markdown (+ PNG files), one self-contained HTML file, or JSON.

Called by `kubegym report` (kubegym/cli/report.py) through `write_report`,
and for stdout through `markdown`. No template engine and no external assets:
the HTML carries its CSS inline and its figures as base64 ``data:`` URIs, so
the one file can be mailed or attached to a paper's supplement as it is.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from kubegym.errors import ConfigError
from kubegym.report.sections import Report

Format = Literal["md", "html", "json"]
FORMATS: Final = ("md", "html", "json")
FILES: Final[dict[str, str]] = {"md": "report.md", "html": "report.html", "json": "report.json"}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
p.caption { color: #555; margin: 0.3rem 0 0.6rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin-bottom: 1rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; }
th { background: #f3f3f3; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; }
ul.notes { color: #7a4a00; }
"""


def markdown(report: Report, *, with_figures: bool = True) -> str:
    """The report as markdown: a heading, the notes, every table, and links to the figures."""
    parts = [f"# Report: {report.run}", ""]
    parts += [f"- {note}" for note in report.notes]
    if report.notes:
        parts.append("")
    for table in report.tables:
        parts += [f"## {table.title}", "", table.caption, "", *_markdown_table(table.frame), ""]
    if with_figures:
        for figure in report.figures:
            parts += [f"## {figure.title}", "", f"![{figure.title}]({figure.name})", ""]
    return "\n".join(parts)


def html_page(report: Report) -> str:
    """The report as one HTML page with inline CSS and embedded PNGs."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Report: {html.escape(report.run)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Report: {html.escape(report.run)}</h1>",
    ]
    if report.notes:
        out.append('<ul class="notes">')
        out += [f"<li>{html.escape(note)}</li>" for note in report.notes]
        out.append("</ul>")
    for table in report.tables:
        out.append(f"<h2>{html.escape(table.title)}</h2>")
        out.append(f'<p class="caption">{html.escape(table.caption)}</p>')
        out += _html_table(table.frame)
    for figure in report.figures:
        data = base64.b64encode(figure.png).decode("ascii")
        out.append(f"<h2>{html.escape(figure.title)}</h2>")
        out.append(f'<img alt="{html.escape(figure.title)}" src="data:image/png;base64,{data}">')
    out.append("</body></html>")
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
            text = json.dumps(json_document(report), indent=2, ensure_ascii=False, allow_nan=False)
            path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {out}: {exc}", field="--out") from exc
    return path


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
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _text(value: Any) -> str:
    """A cell as text: integers whole, floats to four significant digits, NaN empty."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 1e4 else str(value)
    return str(value)


def _is_number(value: Any) -> bool:
    value = _plain(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    header, rows = _rows(frame)
    body = list(rows)
    if not body:
        return ["(none)"]
    lines = ["| " + " | ".join(_escape_md(h) for h in header) + " |"]
    numeric = [
        all(_is_number(r[i]) or _plain(r[i]) is None for r in body) for i in range(len(header))
    ]
    lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    lines += ["| " + " | ".join(_escape_md(_text(v)) for v in row) + " |" for row in body]
    return lines


def _escape_md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _html_table(frame: pd.DataFrame) -> list[str]:
    header, rows = _rows(frame)
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = "".join(
            f'<td class="number">{html.escape(_text(v))}</td>'
            if _is_number(v)
            else f"<td>{html.escape(_text(v))}</td>"
            for v in row
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
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
