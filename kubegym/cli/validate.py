"""`kubegym validate`: check run files locally with the same rules as the CRDs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kubegym.api import documents
from kubegym.cli import common


@click.command(context_settings=common.CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def validate(files: tuple[Path, ...], as_json: bool) -> None:
    """Check Tasks and BenchmarkRuns in run files; exit 1 on any problem.

    Each problem is printed with its file, line, object and field path, and a
    hint where one helps. The rules are the CRDs' own: schema and CEL.

    \b
    Examples:
      kubegym validate run.yaml
      kubegym validate task_images/*/task.yaml --json
    """
    problems: list[documents.Problem] = []
    checked: list[tuple[Path, documents.RunFile, int]] = []
    for path in files:
        if path.is_dir() or not path.exists():
            problems.append(documents.Problem(str(path), "no such file"))
            continue
        text, unreadable = documents.read_text(path)
        if text is None:
            problems.extend(unreadable)
            continue
        run_file, found = documents.check_run_file(text, str(path))
        problems.extend(found)
        checked.append((path, run_file, len(found)))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": not problems,
                    "files": [
                        {
                            "file": str(path),
                            "tasks": [t.name for t in run_file.tasks],
                            "runs": [r.name for r in run_file.runs],
                            "problems": count,
                        }
                        for path, run_file, count in checked
                    ],
                    "problems": [
                        {
                            "file": p.source,
                            "line": p.line,
                            "object": p.obj,
                            "field": p.field,
                            "message": p.message,
                            "hint": p.hint,
                        }
                        for p in problems
                    ],
                },
                indent=2,
            )
        )
    else:
        for p in problems:
            click.echo(str(p), err=True)
        for path, run_file, count in checked:
            if not count:
                objects = [f"Task/{t.name}" for t in run_file.tasks]
                objects += [f"BenchmarkRun/{r.name}" for r in run_file.runs]
                click.echo(f"{path}: ok ({', '.join(objects) or 'no objects'})")
    if problems:
        if not as_json:
            click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
