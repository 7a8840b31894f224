"""A baseline table (`kubegym.api.baselines.BaselineTable`) as text, Markdown and README blocks.

`kubegym tasks baseline` prints a table with `text` or `markdown` and its progress with
`outcome`; `--from FILE --readmes` rewrites, between markers, the baselines section of the
repository's README.md and one block in each task's README.md (`update_readmes`), next to
MLGym's published numbers, which a catalog quotes in ``mlgym-baselines.yaml`` (`load_quotes`).
The tests check the READMEs against ``task_images/baselines.json`` this way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import pydantic
import yaml
from pydantic import ConfigDict

from kubegym.api import baselines as baselines_api

#: The file of a catalog folder that quotes MLGym's recorded baselines.
QUOTES_FILE: Final = "mlgym-baselines.yaml"
#: What fences a generated block in a README; the text between is replaced as a whole.
BEGIN: Final = "<!-- generated from task_images/baselines.json: begin -->"
END: Final = "<!-- generated from task_images/baselines.json: end -->"


class Quote(pydantic.BaseModel):
    """MLGym's recorded baseline of one task, as its task config states it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    mlgym_task: str
    """MLGym's task id (its ``configs/tasks/<id>.yaml``)."""

    metric: str
    """The metric's name in MLGym's config (``baseline_scores``)."""

    score: float
    """The number, as MLGym's config has it."""

    note: str | None = None
    """Why the number does not compare one to one with ours, when it does not."""


def load_quotes(folders: Iterable[Path]) -> dict[str, Quote]:
    """MLGym's baselines quoted by the catalog folders (first folder wins per task).

    Raises:
        ValueError: a quotes file is malformed (the message names it).
    """
    quotes: dict[str, Quote] = {}
    for folder in folders:
        path = folder / QUOTES_FILE
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        try:
            found = {name: Quote.model_validate(q) for name, q in (data.get("tasks") or {}).items()}
        except (pydantic.ValidationError, AttributeError) as exc:
            raise ValueError(f"{path}: {exc}") from exc
        for name, quote in found.items():
            quotes.setdefault(name, quote)
    return quotes


def number(value: float | None) -> str:
    """A score as the tables show it: four decimals below 10, fewer above."""
    if value is None:
        return "—"
    size = abs(value)
    return f"{value:.1f}" if size >= 1000 else f"{value:.2f}" if size >= 10 else f"{value:.4f}"


def outcome(row: baselines_api.BaselineRow) -> str:
    """One line on a row, for progress and the text table: the task and what became of it."""
    if row.status == "skipped":
        return f"{row.task}: skipped: {row.reason}"
    if row.status == "error":
        return f"{row.task}: error after {row.wall_seconds} s: {row.reason}"
    if row.status == "invalid":
        return f"{row.task}: no valid score ({row.exit_reason}) in {row.seconds} s: {row.message}"
    bar = "no bar" if row.bar is None else f"bar {number(row.bar)}"
    verdict = "feasible" if row.feasible else "INFEASIBLE"
    return (
        f"{row.task}: {row.primary_metric} {number(row.score)} in {row.seconds} s "
        f"({verdict}, {bar})"
    )


def text(table: baselines_api.BaselineTable) -> str:
    """The table for a terminal: a header line, then one line per task."""
    head = (
        f"baselines at budget {table.budget:g} on {table.machine.platform}, "
        f"{table.machine.cpus} CPUs, {len(table.machine.gpus)} GPU(s)"
        + (" (interrupted)" if table.interrupted else "")
    )
    return "\n".join([head, *(outcome(row) for row in table.rows)])


def _ours(row: baselines_api.BaselineRow) -> str:
    if row.status == "measured":
        return number(row.score) + (" (CPU)" if row.needs_gpu and row.ran_without_gpu else "")
    if row.status == "skipped":
        return "not run"
    return f"{row.status}"


def _mlgym(quote: Quote | None) -> str:
    if quote is None:
        return "—"
    return number(quote.score) + (" *" if quote.note else "")


def _feasible(row: baselines_api.BaselineRow) -> str:
    return "—" if row.feasible is None else "yes" if row.feasible else "**no**"


def markdown(table: baselines_api.BaselineTable, quotes: Mapping[str, Quote]) -> str:
    """The table in Markdown: per task MLGym's number, our starter's, the bar, feasibility."""
    commit, _, dirty = (table.kubegym_commit or "unknown").partition("+")
    lines = [
        f"Measured with `kubegym tasks baseline` at budget {table.budget:g} on "
        f"{table.created[:10]} ({table.machine.cpus} CPUs, "
        f"{', '.join(table.machine.gpus) or 'no GPU'}; kubegym {commit[:10]}"
        f"{' with uncommitted changes' if dirty else ''}).",
        "",
        "| task | metric | MLGym's baseline | our starter | bar (`baselineScores`) | "
        "feasible | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.rows:
        arrow = "↑" if row.direction == "max" else "↓"
        seconds = "—" if row.seconds is None or row.status == "skipped" else f"{row.seconds:.0f}"
        lines.append(
            f"| {row.task} | {row.primary_metric} {arrow} | {_mlgym(quotes.get(row.task))} | "
            f"{_ours(row)} | {number(row.bar)} | {_feasible(row)} | {seconds} |"
        )
    skipped = [row for row in table.rows if row.status != "measured"]
    if skipped:
        lines += ["", "Not measured here:", ""]
        lines += [f"- {row.task}: {row.reason or row.message or row.status}" for row in skipped]
    if any(row.ran_without_gpu and row.status == "measured" for row in table.rows):
        lines += ["", "(CPU): a task that asks for a GPU, run on the CPU (`--include-gpu`)."]
    notes = [(name, q) for name, q in quotes.items() if q.note and table.row(name)]
    if notes:
        lines += ["", "\\* MLGym's number does not compare one to one:", ""]
        lines += [f"- {name}: {q.note}" for name, q in notes]
    return "\n".join(lines)


def task_block(
    table: baselines_api.BaselineTable, row: baselines_api.BaselineRow, quote: Quote | None
) -> str:
    """A task README's generated lines: MLGym's number and ours, with the bar."""
    mlgym = (
        "none: a task of kubegym's own"
        if quote is None
        else f"{number(quote.score)} (`{quote.mlgym_task}`, `{quote.metric}`)"
        + (f"; {quote.note}" if quote.note else "")
    )
    if row.status == "measured":
        where = " on the CPU" if row.needs_gpu and row.ran_without_gpu else ""
        ours = (
            f"{number(row.score)}, measured{where} at budget {table.budget:g} on "
            f"{table.created[:10]} in {row.seconds:.0f} s"
        )
    else:
        ours = f"not measured here: {row.reason or row.message or row.status}"
    if row.bar is None:
        bar = "none: any valid score of 0 or more is feasible"
    else:
        bar = f"{number(row.bar)} (`baselineScores`)"
        if row.feasible is not None:
            bar += ": the starter is " + ("feasible" if row.feasible else "**infeasible**")
    better = "higher" if row.direction == "max" else "lower"
    return "\n".join(
        [
            BEGIN,
            f"| `{row.primary_metric}`, {better} is better | |",
            "| --- | --- |",
            f"| MLGym's baseline | {mlgym} |",
            f"| our starter | {ours} |",
            f"| feasibility bar | {bar} |",
            END,
        ]
    )


def replace_block(text: str, block: str, where: str) -> str:
    """``text`` with its generated block replaced by ``block``.

    Raises:
        ValueError: ``text`` has no complete block (``where`` names the file).
    """
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{where}: no generated block ({BEGIN} … {END}) to replace")
    return text[:start] + block + text[end + len(END) :]


def fenced(body: str) -> str:
    """``body`` between the markers, as `replace_block` expects a block."""
    return f"{BEGIN}\n{body}\n{END}"


def update_readmes(
    table: baselines_api.BaselineTable,
    quotes: Mapping[str, Quote],
    summary: Path,
    task_readmes: Mapping[str, Path],
) -> list[Path]:
    """Rewrite the generated blocks: the table in ``summary``, each row in its task's README.

    Returns:
        The files whose text changed.

    Raises:
        ValueError: a file has no generated block to replace.
    """
    wanted = {summary: fenced(markdown(table, quotes))}
    for row in table.rows:
        if row.task in task_readmes:
            wanted[task_readmes[row.task]] = task_block(table, row, quotes.get(row.task))
    changed = []
    for path, block in wanted.items():
        before = path.read_text(encoding="utf-8")
        after = replace_block(before, block, str(path))
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


__all__ = [
    "BEGIN",
    "END",
    "QUOTES_FILE",
    "Quote",
    "fenced",
    "load_quotes",
    "markdown",
    "number",
    "outcome",
    "replace_block",
    "task_block",
    "text",
    "update_readmes",
]
