"""A finished Trial as the one shape of a finished trial, `kubegym.api.results.TrialResult`.

The operator reads a trial's numbers only from its status (scores from the
evaluator's record, never the agent's word). The run's status leaderboard and
best scores (`kubegym.operator.runs`, the controller's metrics) and the rollup
files (`kubegym.operator.rollups`) are all computed by `kubegym.rollups` from
these records (the first two from each record's `ScoreRow`), as the local
runner's are from its trials' results.json.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from kubegym import rollups
from kubegym.api import reasons, tasks, trials
from kubegym.api import results as results_api
from kubegym.operator.trials import TrialView


def result_of(trial: TrialView, task: tasks.Task) -> results_api.TrialResult:
    """A finished Trial as the one shape of a finished trial, from its status alone.

    Made afresh on each call: only the rollup files need whole records, once per run.
    What the run's status reads of every finished trial, every few seconds, is its
    `row_of`, which is kept.
    """
    return _result(trial, task.spec.evaluation.metric())


def row_of(trial: TrialView, task: tasks.Task) -> rollups.ScoreRow:
    """What the leaderboard reads of a finished Trial (`kubegym.rollups.ScoreRow`), made
    from its `result_of` once per version of the Trial and task metric (`TrialView.memo`).

    Kept for every finished trial of every run: a row is about 200 bytes, where a whole
    `TrialResult` was 5.6 KiB (44.5 MiB at 8,000 finished trials, bench/operator_memory.py).
    """
    metric = task.spec.evaluation.metric()
    key = ("row", metric.name, metric.direction)
    found = trial.memo.get(key)
    if found is None:
        found = rollups.row_of(_result(trial, metric))
        trial.memo[key] = found
    row: rollups.ScoreRow = found
    return row


def _result(trial: TrialView, metric: tasks.Metric) -> results_api.TrialResult:
    status = trial.status  # a finished trial's is unpacked here, its scores validated
    scores = list(status.scores)
    return results_api.TrialResult(
        trial=trial.name,
        task=trial.spec.task,
        agent=trial.spec.agent,
        seed=trial.spec.seed,
        attempt=status.attempt,
        primary_metric=metric.name,
        direction=metric.direction,
        exit_reason=reasons.Reason(status.exit_reason or reasons.Reason.INTERNAL_ERROR),
        failure_class=status.failure_class,
        scores=scores,
        final=status.final,
        score=status.score,
        best_attempt=results_api.best_attempt(scores, metric.name, metric.direction),
        steps=status.steps,
        prompt_tokens=status.prompt_tokens,
        completion_tokens=status.tokens - status.prompt_tokens,
        cost_usd=status.cost_usd,
        seconds=_seconds(status.start_time, status.finish_time),
        message=status.message or "",
        started=status.start_time.isoformat() if status.start_time else "",
        finished=status.finish_time.isoformat() if status.finish_time else "",
        validations=status.validations,
        validations_refused=status.validations_refused,
        images=list(status.images),
        egress=_egress(status.egress),
    )


def _egress(egress: trials.TrialEgress | None) -> results_api.EgressSummary | None:
    """The status's egress as the results' summary. On a cluster the full request log stays
    with the proxy's records, so `log` is null."""
    if egress is None:
        return None
    return results_api.EgressSummary(
        network=egress.network,
        allowlist=list(egress.allowlist),
        hosts=[results_api.EgressHost.model_validate(h.model_dump()) for h in egress.hosts],
        log=None,
        complete=egress.complete,
    )


def results_of(
    chosen: Sequence[tasks.Task], members: Sequence[TrialView]
) -> list[results_api.TrialResult]:
    """Every finished Trial of the run whose task the run still holds, as `TrialResult`s."""
    return [result_of(t, task) for t, task in _finished(chosen, members)]


def rows_of(chosen: Sequence[tasks.Task], members: Sequence[TrialView]) -> list[rollups.ScoreRow]:
    """`results_of` as `ScoreRow`s (kept with each Trial's version: `row_of`)."""
    return [row_of(t, task) for t, task in _finished(chosen, members)]


def _finished(
    chosen: Sequence[tasks.Task], members: Sequence[TrialView]
) -> Iterator[tuple[TrialView, tasks.Task]]:
    """Each finished Trial whose task the run still holds, with that task."""
    by_task = {t.name: t for t in chosen}
    for trial in members:
        if trial.finished and trial.spec.task in by_task:
            yield trial, by_task[trial.spec.task]


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()
