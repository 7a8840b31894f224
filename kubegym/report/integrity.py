"""The integrity report of a run: every trial's record, the run's images, and the counts.

`kubegym audit RUN` (kubegym/cli/audit.py) and the "Integrity" section of
`kubegym report` (`kubegym.report.sections`) call `audit_run`. It reads every
trial's ``results.json`` and ``trajectory.jsonl`` through a
`sources.RunSource`, one trial at a time (a 10,000-trial run is never held in
memory at once), and audits each (`kubegym.report.trial_integrity`) against the
named rules of `kubegym.report.audit_rules`: a trial is *flagged* when any rule
fires. The report is evidence for a person, not a verdict: scores are the
evaluator's and nothing here changes them.

For a run on a cluster, each trial also gets the images its containers ran, from
the run's ``images.json`` (`kubegym.report.images`), flagged when a pinned image
ran another digest, when one image resolved to several digests over the run (a
moved tag), or when an image was named by tag only. A trial known only from
images.json (its image never pulled, so it left no results.json) is listed too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubegym.api import results as results_api
from kubegym.api import trials as trials_api
from kubegym.index import sources
from kubegym.report import audit_rules, trial_integrity
from kubegym.report import images as images_mod
from kubegym.tasks import catalog


@dataclass
class RunIntegrity:
    """The integrity report of a run: its trials (flagged or not) and counts."""

    run: str
    location: str
    trials: list[trial_integrity.TrialIntegrity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    moved_images: dict[str, list[str]] = field(default_factory=dict)
    """Each image (as named) that ran as more than one digest in the run, with the digests."""

    @property
    def flagged(self) -> list[trial_integrity.TrialIntegrity]:
        """The trials with at least one flag, most serious first."""
        hits = [t for t in self.trials if t.flags]
        return sorted(
            hits, key=lambda t: (-audit_rules.SEVERITIES.index(t.severity or "low"), t.trial)
        )

    def at_least(self, severity: audit_rules.Severity) -> list[trial_integrity.TrialIntegrity]:
        """The trials flagged at `severity` or above."""
        floor = audit_rules.SEVERITIES.index(severity)
        return [
            t for t in self.flagged if audit_rules.SEVERITIES.index(t.severity or "low") >= floor
        ]

    def summary(self) -> dict[str, Any]:
        """Counts for the run: trials, flagged ones by severity, hits per rule, per agent."""
        by_rule: Counter[str] = Counter()
        by_agent: Counter[str] = Counter()
        by_severity: Counter[str] = Counter()
        for trial in self.flagged:
            by_agent[trial.agent] += 1
            by_severity[trial.severity or "low"] += 1
            by_rule.update(f.rule for f in trial.flags)
        return {
            "trials": len(self.trials),
            "flagged": len(self.flagged),
            "by_severity": {s: by_severity[s] for s in audit_rules.SEVERITIES},
            "by_rule": dict(sorted(by_rule.items())),
            "by_agent": dict(sorted(by_agent.items())),
            "validations": sum(t.validations for t in self.trials),
            "eval_errors": sum(len(t.eval_errors) for t in self.trials),
            "with_images": sum(1 for t in self.trials if t.images),
            "moved_images": dict(self.moved_images),
        }

    def to_json(self) -> dict[str, Any]:
        """The report as JSON: its summary, the rules, the flagged trials, images and notes."""
        return {
            "run": self.run,
            "location": self.location,
            "summary": self.summary(),
            "rules": [
                {"name": r.name, "severity": r.severity, "why": r.why}
                for r in audit_rules.ALL_RULES
            ],
            "flagged": [t.to_json() for t in self.flagged],
            "images": {t.trial: t.images for t in self.trials if t.images},
            "notes": list(self.notes),
        }


def audit_run(
    source: sources.RunSource,
    *,
    offline: Callable[[str], bool] | None = None,
) -> RunIntegrity:
    """Audit every finished trial of a run, one at a time.

    Args:
        source: the run (`sources.open_source`).
        offline: whether a task has no network (`network: none`), by task name;
            by default the task catalog says, and unknown tasks count as offline.
    """
    files = source.list_files()
    present = set(files)
    run = RunIntegrity(run=source.name, location=source.location)
    is_offline = offline or catalog_offline()
    for folder in _latest_attempts(files):
        results_path = f"{folder}/{results_api.RESULTS_JSON}"
        if results_path not in present:
            continue
        try:
            results = json.loads(source.read_bytes(results_path))
        except (ValueError, OSError) as exc:
            run.notes.append(f"skipped {results_path}: not readable JSON ({exc})")
            continue
        if not isinstance(results, dict):
            run.notes.append(f"skipped {results_path}: not a JSON object")
            continue
        steps_path = f"{folder}/{results_api.TRAJECTORY_JSONL}"
        jsonl = source.read_bytes(steps_path) if steps_path in present else b""
        run.trials.append(trial_integrity.audit_trial(results, jsonl, offline=is_offline))
    rollup, notes = images_mod.read(source, present)
    run.notes += notes
    if rollup is not None:
        add_images(run, rollup)
    return run


def add_images(run: RunIntegrity, rollup: trials_api.ImagesRollup) -> None:
    """Give each trial of `run` its images from the run's images.json, and flag what is wrong.

    A trial of the rollup the run does not hold yet (no results.json: its image was never
    pulled, or its agent pod never uploaded) is added, with what the rollup says of it.
    """
    by_name = {t.trial: t for t in run.trials}
    for entry in rollup.trials:
        trial = by_name.get(entry.trial)
        if trial is None:
            trial = trial_integrity.TrialIntegrity(
                trial=entry.trial,
                task=entry.task,
                agent=entry.agent,
                seed=entry.seed,
                steps=0,
                validations=0,
                submits=0,
                eval_errors=[],
                exit_reason=entry.exit_reason,
                failure_class=entry.failure_class,
                message="no results.json: known from images.json only",
            )
            run.trials.append(trial)
            by_name[entry.trial] = trial
        trial.images = [r.model_dump(mode="json") for r in entry.images]
    run.moved_images = images_mod.moved(rollup)
    for finding in images_mod.findings(rollup):
        rule = audit_rules.IMAGE_RULES[finding.check]
        trial = by_name[finding.trial]
        flag = trial_integrity.Flag(
            rule.name, rule.severity, rule.why, None, finding.evidence, finding.hits
        )
        trial.flags = trial_integrity.sort_flags(
            [*(f for f in trial.flags if f.rule != rule.name), flag]
        )


def _latest_attempts(files: Iterable[str]) -> list[str]:
    """One folder per trial: ``trials/<id>``, or the highest ``<id>/attempt-<n>``."""
    best: dict[str, tuple[int, str]] = {}
    for folder in sources.trial_folders(files):
        parent, _, name = folder.rpartition("/")
        attempt = int(name.removeprefix("attempt-")) if name.startswith("attempt-") else 0
        key = parent if name.startswith("attempt-") else folder
        if key not in best or attempt > best[key][0]:
            best[key] = (attempt, folder)
    return sorted(folder for _, folder in best.values())


def catalog_offline() -> Callable[[str], bool]:
    """Whether a task has no network, by the task catalog (looked up once, when first asked)."""
    networks: dict[str, str] | None = None

    def offline(task: str) -> bool:
        nonlocal networks
        if networks is None:
            try:
                found = catalog.discover(catalog.search_path())
            except Exception:  # a broken task folder must not stop an audit
                found = {}
            networks = {name: b.task.spec.network for name, b in found.items()}
        return networks.get(task, "none") == "none"

    return offline


__all__ = ["RunIntegrity", "add_images", "audit_run", "catalog_offline"]
