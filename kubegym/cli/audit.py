"""`kubegym audit RUN`: the trials of a run that did what no honest agent needs to do.

Registered lazily by `kubegym.cli`; reads the run (a local folder or an S3
URI, as `kubegym report` does) through `kubegym.report.integrity`, prints a
table of flagged trials and the run's summary, or the same as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from kubegym.cli import common

if TYPE_CHECKING:
    from kubegym.report import integrity

FLAGGED_EXIT = 2
"""`--strict`'s exit status when a trial is flagged at or above `--severity` (errors exit 1)."""


@click.command("audit", context_settings=common.CONTEXT)
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--strict",
    is_flag=True,
    help=f"Exit {FLAGGED_EXIT} when a trial is flagged at or above --severity.",
)
@click.option(
    "--severity",
    type=click.Choice(["low", "medium", "high"]),
    default="medium",
    show_default=True,
    help="The least severity --strict fails on.",
)
def audit(run: str, as_json: bool, strict: bool, severity: str) -> None:
    """Flag the trials of RUN whose trajectory does what no honest agent needs.

    \b
    RUN is the folder `kubegym run --out` wrote, or a run's s3:// URI. Each
    step's action and observation is matched against named rules (reading
    /proc/*/environ, killing PID 1 or 2, a FIFO, writing /etc/passwd,
    touching hidden data or the evaluation script, climbing out of
    /workspace, network tools in an offline task, writes outside /workspace
    and /tmp, privilege tools, gigantic writes, secrets in an observation,
    validate spamming). Per trial: validate count, evaluator errors, exit
    reason and failure class. For a cluster run, each trial's image digests
    (the run's images.json, from the kubelet): flagged when a pinned image
    ran another digest, when one image ran as several digests over the run
    (a moved tag), or when an image was named by tag only. Scores are not
    changed: this is evidence.

    \b
    Examples:
      kubegym audit out/quickstart
      kubegym audit s3://bench/runs/quickstart --json
      kubegym audit out/quickstart --strict --severity high   # CI gate
    """
    from kubegym.index import sources
    from kubegym.report import integrity

    report = integrity.audit_run(sources.open_source(run))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_text(report))
    if strict and report.at_least(severity):  # type: ignore[arg-type]
        click.echo(
            f"{len(report.at_least(severity))} trial(s) flagged at {severity} or above",  # type: ignore[arg-type]
            err=True,
        )
        sys.exit(FLAGGED_EXIT)


def render_text(report: integrity.RunIntegrity) -> str:
    """The flagged trials as a table, each flag on its own line below, then the summary."""
    summary = report.summary()
    lines = [f"Integrity of run {report.run} ({report.location})", ""]
    flagged = report.flagged
    if flagged:
        header = ("severity", "trial", "agent", "task", "validates", "eval errors", "exit", "rules")
        rows = [
            (
                t.severity or "",
                t.trial,
                t.agent,
                t.task,
                str(t.validations),
                str(len(t.eval_errors)),
                f"{t.exit_reason or ''}{f' ({t.failure_class})' if t.failure_class else ''}",
                ", ".join(f.rule for f in t.flags),
            )
            for t in flagged
        ]
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        for row, trial in zip(rows, flagged, strict=True):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            for flag in trial.flags:
                where = f"step {flag.step}" if flag.step is not None else "trial"
                more = f" (+{flag.hits - 1} more)" if flag.hits > 1 else ""
                lines.append(f"    {flag.rule} [{flag.severity}] at {where}{more}: {flag.evidence}")
        lines.append("")
    else:
        lines += ["No trial flagged.", ""]
    lines += images_text(report)
    by_severity = ", ".join(f"{n} {s}" for s, n in summary["by_severity"].items() if n)
    lines.append(
        f"{summary['flagged']} of {summary['trials']} trial(s) flagged"
        + (f" ({by_severity})" if by_severity else "")
        + f"; {summary['validations']} validate(s), {summary['eval_errors']} evaluator error(s)"
    )
    if summary["by_rule"]:
        lines.append("rules: " + ", ".join(f"{r} ×{n}" for r, n in summary["by_rule"].items()))
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def images_text(report: integrity.RunIntegrity) -> list[str]:
    """Per trial, the images its containers ran and their digests; nothing for a local run."""
    from kubegym.report import images

    ran = [t for t in report.trials if t.images]
    if not ran:
        return []
    lines = ["Images (the kubelet's digests, from the run's images.json)"]
    for trial in ran:
        lines.append(f"  {trial.trial}")
        lines += [f"    {line}" for line in images.listing(trial.images)]
    for image, digests in report.moved_images.items():
        lines.append(f"moved: {image} ran as {', '.join(digests)}")
    return [*lines, ""]


__all__ = ["FLAGGED_EXIT", "audit", "images_text", "render_text"]
