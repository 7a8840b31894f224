"""One trial's integrity record: its counts, what it was scored on, and the rules it tripped.

`audit_trial` reads a trial's results.json and trajectory.jsonl and applies the
rules of `kubegym.report.audit_rules` to each step; `kubegym.report.integrity`
calls it for every trial of a run (and so do the report's loader and the tests,
on one trial). The record is evidence for a person: scores are not changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import pydantic

from kubegym.api import results as results_api
from kubegym.index import records
from kubegym.report import audit_rules

RESULT_FIELDS: Final = records.AUDIT_FIELDS
"""The fields of a results.json the audit reads."""


@dataclass(frozen=True)
class Flag:
    """One rule that fired on a trial: where first, and how often."""

    rule: str
    severity: audit_rules.Severity
    why: str
    step: int | None
    """The first step it fired on (None for a count rule)."""
    evidence: str
    """The start of the matching action or observation (or the count)."""
    hits: int = 1
    """How many steps it fired on."""


@dataclass
class TrialIntegrity:
    """The integrity record of one trial."""

    trial: str
    task: str
    agent: str
    seed: int | None
    steps: int
    validations: int
    """validate calls: the server's count when the results carry one, else the scores'."""
    submits: int
    eval_errors: list[str]
    """The evaluator's errors, one per failed validate or submit, in order."""
    exit_reason: str | None
    failure_class: str | None
    message: str
    flags: list[Flag] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    """What its containers ran (`ImageRecord` fields), from the run's images.json."""
    network: str = "none"
    """What its sandbox could reach: ``none``, ``allowlist`` (the egress proxy) or ``open``
    (results.json's ``egress``; ``unknown`` when that is malformed)."""
    egress_hosts: list[dict[str, Any]] = field(default_factory=list)
    """Each host it asked the egress proxy for: ``host``, ``allowed``, ``refused``."""

    @property
    def severity(self) -> audit_rules.Severity | None:
        """The most serious flag's severity; None when not flagged."""
        if not self.flags:
            return None
        return max((f.severity for f in self.flags), key=audit_rules.SEVERITIES.index)

    def to_json(self) -> dict[str, Any]:
        """The record as JSON, with its severity."""
        data = asdict(self)
        data["severity"] = self.severity
        return data


def sort_flags(flags: Iterable[Flag]) -> list[Flag]:
    """Flags most serious first, then by the step they first fired on, then by rule."""
    return sorted(
        flags, key=lambda f: (-audit_rules.SEVERITIES.index(f.severity), f.step or 0, f.rule)
    )


def audit_trial(
    results: Mapping[str, Any],
    jsonl: bytes,
    *,
    offline: bool | Callable[[str], bool] = True,
) -> TrialIntegrity:
    """The integrity record of one trial from its results.json and trajectory.jsonl.

    The record's counts come from the results (`_record`), the step rules' flags
    from the trajectory (`_step_flags`), and the validate count is checked against
    the steps taken (`VALIDATE_SPAM`).

    Args:
        results: the trial's results.json (at least `RESULT_FIELDS`).
        jsonl: its trajectory, one step per line (empty when missing).
        offline: whether the task has no network (network tools are then flagged), or a
            function of the task's name that says so; asked only when a network tool is seen.
    """
    record = _record(results)
    # A trial whose sandbox had a network (the allowlist's proxy, or an open one) may
    # legitimately use network tools; the catalog's view of the task is for older results
    # that record no network.
    offline = False if record.network in ("allowlist", "open") else offline
    found = _step_flags(jsonl, record.task, offline)
    steps = jsonl.count(b"\n") + (0 if jsonl.endswith(b"\n") or not jsonl else 1)
    steps = max(steps, record.steps)
    if record.validations > max(5, steps / 3):
        spam = audit_rules.VALIDATE_SPAM
        found[spam.name] = Flag(
            spam.name,
            spam.severity,
            spam.why,
            None,
            f"{record.validations} validates in {steps} steps",
        )
    refused = [h for h in record.egress_hosts if h["refused"]]
    if refused:
        rule = audit_rules.EGRESS_REFUSED
        shown = ", ".join(f"{h['host']} ({h['refused']})" for h in refused[:5])
        more = f" and {len(refused) - 5} more hosts" if len(refused) > 5 else ""
        found[rule.name] = Flag(
            rule.name,
            rule.severity,
            rule.why,
            None,
            f"refused: {shown}{more}",
            sum(h["refused"] for h in refused),
        )
    record.flags = sort_flags(found.values())
    return record


def _record(results: Mapping[str, Any]) -> TrialIntegrity:
    """A trial's record, without flags, from its results.json."""
    scores = [s for s in results.get("scores") or [] if isinstance(s, dict)]
    # The evaluator's own count (results.json's ``validations``, from the judge's ledger)
    # outranks the steps, which a trial killed half-way may not all have recorded.
    counted = results.get("validations")
    if counted is None:
        counted = (results.get("details") or {}).get("validations")
    validations = sum(1 for s in scores if s.get("action") == "validate")
    if isinstance(counted, int) and not isinstance(counted, bool):
        validations = max(validations, counted)
    return TrialIntegrity(
        trial=str(results.get("trial", "")),
        task=str(results.get("task", "")),
        agent=str(results.get("agent", "")),
        seed=results.get("seed") if isinstance(results.get("seed"), int) else None,
        steps=int(results.get("steps") or 0),
        validations=validations,
        submits=sum(1 for s in scores if s.get("action") == "submit"),
        eval_errors=[str(s["error"]) for s in scores if s.get("error")],
        exit_reason=results.get("exit_reason"),
        failure_class=results.get("failure_class"),
        message=str(results.get("message") or ""),
        **_network(results.get("egress")),
    )


def _network(egress: Any) -> dict[str, Any]:
    """The record's network fields from results.json's ``egress`` (absent: no network)."""
    if egress is None:
        return {"network": "none", "egress_hosts": []}
    try:
        summary = results_api.EgressSummary.model_validate(egress)
    except pydantic.ValidationError:
        return {"network": "unknown", "egress_hosts": []}
    hosts = [{"host": h.host, "allowed": h.allowed, "refused": h.refused} for h in summary.hosts]
    return {"network": summary.network, "egress_hosts": hosts}


def _step_flags(jsonl: bytes, task: str, offline: bool | Callable[[str], bool]) -> dict[str, Flag]:
    """The step rules that fire on the trajectory, by name: first step, evidence, hit count.

    A trajectory that holds none of the rules' needles (`PREFILTER`) is never parsed.
    """
    found: dict[str, Flag] = {}
    if not jsonl or not audit_rules.PREFILTER.search(jsonl):
        return found
    for number, action, observation in _steps(jsonl):
        for rule in audit_rules.RULES:
            text = audit_rules.hit(rule, action, observation)
            if text is None:
                continue
            if rule.only_offline and not (offline(task) if callable(offline) else offline):
                continue
            if rule.name in found:
                previous = found[rule.name]
                found[rule.name] = Flag(**{**asdict(previous), "hits": previous.hits + 1})
            else:
                found[rule.name] = Flag(
                    rule.name, rule.severity, rule.why, number, audit_rules.evidence(text)
                )
    return found


def _steps(jsonl: bytes) -> Iterator[tuple[int | None, str, str]]:
    """(step number, action, observation) of each readable line; other lines are skipped."""
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        try:
            step = json.loads(line)
        except ValueError:
            continue
        if not isinstance(step, dict):
            continue
        number = step.get("step")
        yield (
            number if isinstance(number, int) else None,
            str(step.get("action") or ""),
            str(step.get("observation") or ""),
        )


__all__ = ["RESULT_FIELDS", "Flag", "TrialIntegrity", "audit_trial", "sort_flags"]
