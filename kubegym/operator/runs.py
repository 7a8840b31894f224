"""What to do next for one BenchmarkRun: create its Trials, admit some, roll their status up.

`decide` is a pure function of the run, the Tasks in its namespace, its Trials
and the clock; `kubegym.operator.controller` carries the decision out. The run
alone decides which Trials start (the `kubegym.io/admitted` annotation), so
parallelism, the budget and `suspend` are enforced in one place; a Trial never
starts again once it has finished.
"""

from __future__ import annotations

import datetime as dt
import functools
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubegym import rollups
from kubegym.api import common, runs, tasks, trials
from kubegym.errors import ConfigError
from kubegym.operator import labels, objects, results
from kubegym.operator.trials import ADMITTED, TrialView
from kubegym.tasks import catalog, profiles

#: The tasks' own baseline scores enter the profiles as one more method (as locally).
#: A Task belongs to suite S when it carries this label prefix plus S (value "true").
SUITE_LABEL_PREFIX = "suite.kubegym.io/"
#: How often a run waiting for its Tasks looks again.
TASKS_RETRY_SECONDS = 10.0
#: The most Trials one run reconcile creates: a grid of 10,000 is made over several
#: reconciles, the first trials admitted (and running) while the rest are still made,
#: and the run's status written between chunks. A restart in between loses nothing:
#: each reconcile creates the grid's cells that have no Trial yet (fixed names).
CREATE_CHUNK = 500


@dataclass(frozen=True)
class RunView:
    """A BenchmarkRun as the API server returned it, under its suite profile if it has one.

    ``spec`` holds the profile's run defaults where the run leaves a field unset; `task`
    gives a Task under the profile's setting. The profiles are the operator image's
    (``/opt/kubegym/task_images/profiles``, on its ``KUBEGYM_TASK_PATH``).
    """

    namespace: str
    name: str
    uid: str
    generation: int
    spec: runs.BenchmarkRunSpec
    status: runs.BenchmarkRunStatus
    profile: profiles.Profile | None = None
    """The run's suite profile (``spec.profile``), read."""
    profile_error: str | None = None
    """Why the run's profile could not be read; the run fails with it."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> RunView:
        meta = body["metadata"]
        spec = runs.BenchmarkRunSpec.model_validate(body["spec"])
        profile, error = None, None
        if spec.profile is not None:
            try:
                profile = profiles.load(profiles.find(spec.profile, catalog.search_path()))
                spec = profiles.apply_run(profile, spec)
            except ConfigError as exc:
                error = str(exc)
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation") or 0),
            spec=spec,
            status=runs.BenchmarkRunStatus.model_validate(body.get("status") or {}),
            profile=profile,
            profile_error=error,
        )

    def task(self, task: tasks.Task) -> tasks.Task:
        """``task`` under the run's profile (itself without one).

        Raises:
            ConfigError: the profile does not cover the task or makes it invalid.
        """
        if self.profile is None:
            return task
        return profiles.apply_task(self.profile, task, validation=self.spec.validation)

    @property
    def profile_label(self) -> str | None:
        """The profile as the leaderboard's scope records it (`profiles.scope_label`)."""
        return None if self.profile is None else profiles.scope_label(self.profile, self.spec)


@dataclass
class RunDecision:
    """What the controller must do for one run.

    Attributes:
        create: Trial manifests to create (at most `CREATE_CHUNK` at a time).
        admit: Trial names to admit (annotate).
        cancel: Trials that will never start (budget spent), with their final status.
        status: the status to write, or None when unchanged.
        delete: delete the run (its TTL after finishing has passed).
        requeue_after: look again after this many seconds.
        events: (type, reason, message).
        chosen_tasks: the run's tasks, under its profile, once they are all there and usable
            (its Service and NetworkPolicies are made from them).
        best_scores: each (task, agent)'s best hidden-test score so far, when this decision
            rolled the finished trials up (`decide`'s ``rollup``); else None.
    """

    create: list[dict[str, Any]] = field(default_factory=list)
    admit: list[str] = field(default_factory=list)
    cancel: list[tuple[str, trials.TrialStatus]] = field(default_factory=list)
    status: runs.BenchmarkRunStatus | None = None
    delete: bool = False
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    chosen_tasks: list[tasks.Task] = field(default_factory=list)
    best_scores: dict[tuple[str, str], float] | None = None


class RollupCadence:
    """When each run's leaderboard is rolled up again (`decide`'s ``rollup``).

    After each rollup the next waits `COST_FACTOR` times the CPU its decision took (at
    most `MAX_WAIT`), so rollups take at most about 1% of a CPU whatever the run's size:
    a run of a few hundred trials (10 to 20 ms) rolls up every reconcile or two, one of
    10,000 (about a tenth of a second) every ten seconds or so. A rollup reads every
    finished trial, so at a fixed rate its cost per trial grew with the run: rolled up
    after 20 times its cost, a 9,750-trial run spent about 40 ms of CPU a second on it.
    The reconcile that finishes a run rolls up whatever this says (`decide`). Kept in
    memory: a restarted operator rolls up at once.
    """

    COST_FACTOR = 100.0
    MAX_WAIT = 30.0

    def __init__(self) -> None:
        self._due: dict[tuple[str, str], float] = {}

    def due(self, key: tuple[str, str], now: float) -> bool:
        """Whether the run ``key`` rolls up at ``now`` (a `time.monotonic` reading)."""
        return now >= self._due.get(key, 0.0)

    def wait(self, key: tuple[str, str], now: float) -> float | None:
        """Seconds until the run ``key`` is due to roll up again; None when it is due now."""
        due = self._due.get(key, 0.0)
        return due - now if due > now else None

    def rolled_up(self, key: tuple[str, str], began: float, cpu: float) -> None:
        """The run rolled up at ``began`` (`time.monotonic`) and that took ``cpu`` seconds of
        its thread's CPU (`time.thread_time`: not the time it waited for a CPU)."""
        self._due[key] = began + min(self.MAX_WAIT, self.COST_FACTOR * cpu)

    def forget(self, key: tuple[str, str]) -> None:
        self._due.pop(key, None)


def select_tasks(
    selection: runs.TaskSelection, available: Sequence[tasks.Task]
) -> tuple[list[tasks.Task], list[str]]:
    """The run's tasks among those in its namespace, and the names that are missing."""
    by_name = {t.name: t for t in available}
    if selection.names is not None:
        found = [by_name[n] for n in selection.names if n in by_name]
        return found, [n for n in selection.names if n not in by_name]
    if selection.suite is not None:
        key = SUITE_LABEL_PREFIX + selection.suite
        chosen = [t for t in available if (t.metadata.labels or {}).get(key) == "true"]
        return sorted(chosen, key=lambda t: t.name), [] if chosen else [f"suite {selection.suite}"]
    assert selection.selector is not None
    chosen = [t for t in available if _matches(selection.selector, t.metadata.labels or {})]
    return sorted(chosen, key=lambda t: t.name), [] if chosen else ["selector matches no Task"]


def _matches(selector: common.LabelSelector, found: Mapping[str, str]) -> bool:
    if any(found.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for expression in selector.match_expressions or []:
        value = found.get(expression.key)
        values = expression.values or []
        if expression.operator == "In" and value not in values:
            return False
        if expression.operator == "NotIn" and value in values:
            return False
        if expression.operator == "Exists" and value is None:
            return False
        if expression.operator == "DoesNotExist" and value is not None:
            return False
    return True


def check_profile(run: RunView, chosen: Iterable[tasks.Task]) -> list[str]:
    """What keeps the run's profile from applying to its tasks, each naming the field.

    The profile must be readable and cover every task, its setting must make a valid
    Task, and what it changes in a task's images (requirements, dataset variants) must
    already be in the Task: images are not rebuilt at run time (`profiles.cluster_problems`).
    """
    if run.profile_error is not None:
        return [f"spec.profile: {run.profile_error}"]
    if run.profile is None:
        return []
    problems = []
    for task in chosen:
        try:
            problems += profiles.cluster_problems(run.profile, task, validation=run.spec.validation)
        except ConfigError as exc:
            problems.append(f"Task/{task.name}: {exc}")
    return problems


def check_tasks(
    chosen: Iterable[tasks.Task],
    run: runs.BenchmarkRunSpec | None = None,
    *,
    egress_proxy: bool = False,
) -> list[str]:
    """What keeps these tasks from running on a cluster, each naming the field.

    Egress hosts (the task's or `run`'s) need the installation's egress proxy
    (`egress_proxy`): without one, a sandbox would run cut off from hosts it was promised.
    """
    problems = []
    chosen = list(chosen)
    # A task with `network: egress` reaches everything without the proxy.
    offline = any(t.spec.network == "none" for t in chosen)
    if run is not None and run.sandbox_egress.hosts and offline and not egress_proxy:
        problems.append(_NO_PROXY % "spec.sandboxEgress.hosts")
    for task in chosen:
        if task.spec.egress.hosts and task.spec.network == "none" and not egress_proxy:
            problems.append(f"Task/{task.name}: " + _NO_PROXY % "spec.egress.hosts")
        if task.spec.image is None:
            problems.append(f"Task/{task.name}: spec.image: a task needs an image on a cluster")
        elif task.spec.resolved_data_image() is None:
            problems.append(
                f"Task/{task.name}: spec.dataImage: needed when the image is pinned by digest"
            )
    return problems


_NO_PROXY = (
    "%s: this kubegym installation has no egress proxy (the Helm chart's egressProxy.enabled)"
)


def grid(run: RunView, chosen: Sequence[tasks.Task]) -> list[trials.TrialSpec]:
    """Every cell of tasks × agents × seeds, seeds outermost so early results span the grid."""
    return [
        trials.TrialSpec(run=run.name, task=task.name, agent=agent.name, seed=seed)
        for seed in range(run.spec.seeds)
        for task in chosen
        for agent in run.spec.agents
    ]


@functools.lru_cache(maxsize=64)
def _cells(
    run: str, seeds: int, task_names: tuple[str, ...], agents: tuple[str, ...]
) -> dict[str, trials.TrialSpec]:
    """The grid's cells by Trial name, in `grid`'s order: made once per grid, not on every
    reconcile of a run of thousands of trials (the cells are never modified)."""
    return {
        trials.trial_name(run, task, agent, seed): trials.TrialSpec.model_construct(
            run=run, task=task, agent=agent, seed=seed
        )
        for seed in range(seeds)
        for task in task_names
        for agent in agents
    }


def _agent_names(run: RunView) -> tuple[str, ...]:
    return tuple(a.name for a in run.spec.agents)


def trial_manifest(
    run: RunView, cell: trials.TrialSpec, *, viewer_url: str | None = None
) -> dict[str, Any]:
    """A Trial owned by the run (deleting the run deletes it and everything it owns).

    With the installation's viewer (`viewer_url`, its base URL), the Trial carries its
    page's URL as the `labels.VIEWER` annotation from its creation: no write of its own.
    """
    name = trials.trial_name(cell.run, cell.task, cell.agent, cell.seed)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": run.namespace,
        "labels": {
            labels.RUN: run.name,
            labels.TASK: cell.task,
            labels.AGENT: cell.agent,
            labels.SEED: str(cell.seed),
            labels.MANAGED_BY: "kubegym",
        },
        "ownerReferences": [objects.owner_reference("BenchmarkRun", run.name, run.uid)],
    }
    if viewer_url:
        metadata["annotations"] = {labels.VIEWER: viewer_link(viewer_url, run.name, name)}
    return {
        "apiVersion": common.API_VERSION,
        "kind": "Trial",
        "metadata": metadata,
        "spec": cell.model_dump(mode="json", by_alias=True),
    }


def viewer_link(base: str, run: str, trial: str) -> str:
    """A Trial's page in the viewer: ``<base>/runs/<run>/trials/<trial>`` (names URL-quoted)."""
    quote = urllib.parse.quote
    return f"{base.rstrip('/')}/runs/{quote(run, safe='')}/trials/{quote(trial, safe='')}"


def decide(
    run: RunView,
    available: Sequence[tasks.Task],
    existing: Sequence[TrialView],
    now: dt.datetime,
    *,
    egress_proxy: bool = False,
    viewer_url: str | None = None,
    rollup: bool = True,
) -> RunDecision:
    """The next step for `run`: pure, from what was read; the controller does it.

    In order: wait for (or refuse) the run's Tasks; create the grid's missing
    Trials; admit waiting Trials within the parallelism unless the budget is
    spent (then cancel them) or the run is suspended; count the Trials and roll
    up the leaderboard; then either finish the run (phase, conditions, TTL) or
    report its progress.

    Args:
        run: the BenchmarkRun.
        available: the Tasks in its namespace.
        existing: its Trials.
        now: the time to stamp conditions with.
        egress_proxy: whether the installation has an egress proxy (else a run whose
            sandboxes are promised egress hosts waits, `check_tasks`).
        viewer_url: the installation's viewer, linked from each new Trial (`trial_manifest`).
        rollup: roll the finished trials up into the leaderboard and best scores now;
            False keeps the status's last leaderboard (the controller spaces rollups by
            what they cost). The decision that finishes the run always rolls up.
    """
    decision = RunDecision()
    status = run.status.model_copy(deep=True)
    status.observed_generation = run.generation
    chosen, missing = select_tasks(run.spec.tasks, available)
    unusable = check_profile(run, chosen)
    if not unusable:  # the tasks as the run's trials will run them
        chosen = [run.task(t) for t in chosen]
    problems = check_tasks(chosen, run.spec, egress_proxy=egress_proxy) + unusable
    if missing or problems:
        _wait_for_tasks(decision, status, run, missing, problems, now)
        decision.status = _changed(run.status, status)
        return decision
    decision.chosen_tasks = chosen
    wanted = _cells(run.name, run.spec.seeds, tuple(t.name for t in chosen), _agent_names(run))
    by_name = {t.name: t for t in existing}
    missing_cells = [c for n, c in wanted.items() if n not in by_name]
    decision.create = [
        trial_manifest(run, c, viewer_url=viewer_url) for c in missing_cells[:CREATE_CHUNK]
    ]
    members = [by_name[n] for n in wanted if n in by_name]
    set_condition(
        status, "Ready", "True", "TrialsCreated", f"{len(wanted)} trials", now, run.generation
    )
    tally = _Tally.of(members)
    exhausted = _admit(decision, status, run, tally, now)
    _count(status, tally, len(wanted), cancelled=len(decision.cancel), admitted=len(decision.admit))
    status.spent_usd = round(tally.spent, 6)
    done = status.counters.succeeded + status.counters.failed
    finishing = done == len(wanted) and not decision.create
    if rollup or finishing:
        rows = results.rows_of(chosen, members)
        _leaderboard(status, run, chosen, rows)
        decision.best_scores = rollups.best_scores_of_rows(rows)
    if finishing:
        _finish(decision, status, run, done, len(wanted), exhausted, now)
    else:
        _progress(status, run, now)
    decision.status = _changed(run.status, status)
    return decision


def _wait_for_tasks(
    decision: RunDecision,
    status: runs.BenchmarkRunStatus,
    run: RunView,
    missing: Sequence[str],
    problems: Sequence[str],
    now: dt.datetime,
) -> None:
    """A run whose Tasks are invalid fails; one whose Tasks are missing waits for them."""
    if problems:
        status.phase = "Failed"
        message = "; ".join(problems)
        set_condition(status, "Ready", "False", "InvalidTask", message, now, run.generation)
        set_condition(status, "Failed", "True", "InvalidTask", message, now, run.generation)
        return
    message = f"waiting for Task(s) in namespace {run.namespace}: {', '.join(missing)}"
    set_condition(status, "Ready", "False", "TasksNotFound", message, now, run.generation)
    decision.requeue_after = TASKS_RETRY_SECONDS


@dataclass
class _Tally:
    """A run's Trials counted in one pass (a reconcile of 10,000 trials made four)."""

    spent: float
    infra_retried: int
    succeeded: int
    failed: int
    active: int
    """Admitted and not finished."""
    waiting: list[TrialView]
    """Not admitted and not finished, in plan order."""

    @classmethod
    def of(cls, members: Sequence[TrialView]) -> _Tally:
        # Plain locals in the loop, one dataclass at the end: this runs once a second over
        # every Trial of a run.
        spent = 0.0
        retried = succeeded = failed = active = 0
        waiting: list[TrialView] = []
        for t in members:  # never `t.status`: a finished trial's is packed
            spent += t.cost_usd
            retried += t.infra_retries
            phase = t.phase
            if phase == "Failed":
                failed += 1
            elif phase == "Succeeded":
                succeeded += 1
            elif t.admitted:
                active += 1
            else:
                waiting.append(t)
        return cls(
            spent=spent,
            infra_retried=retried,
            succeeded=succeeded,
            failed=failed,
            active=active,
            waiting=waiting,
        )


def _admit(
    decision: RunDecision,
    status: runs.BenchmarkRunStatus,
    run: RunView,
    tally: _Tally,
    now: dt.datetime,
) -> bool:
    """Admit waiting Trials within the parallelism, cancel them once the budget is spent, or
    hold them while the run is suspended; whether the budget is spent."""
    spent, waiting = tally.spent, tally.waiting
    budget = run.spec.budget_usd
    if budget is not None and spent >= budget:
        message = f"spent {spent:.2f} of {budget:.2f} USD: no new trial starts"
        set_condition(
            status, "BudgetExhausted", "True", "BudgetSpent", message, now, run.generation
        )
        for t in waiting:
            decision.cancel.append((t.name, _cancelled(t.status, message, now)))
        if waiting:
            decision.events.append(("Warning", "BudgetExhausted", message))
        return True
    if run.spec.suspend:
        set_condition(
            status, "Suspended", "True", "Suspended", "spec.suspend is true", now, run.generation
        )
        return False
    set_condition(status, "Suspended", "False", "Resumed", "", now, run.generation)
    room = max(0, run.spec.parallelism - tally.active)
    decision.admit = [t.name for t in waiting[:room]]
    # New Trials within the parallelism are created admitted: one write instead of two.
    for manifest in decision.create[: room - len(decision.admit)]:
        manifest["metadata"].setdefault("annotations", {})[ADMITTED] = now.isoformat()
    return False


def _finish(
    decision: RunDecision,
    status: runs.BenchmarkRunStatus,
    run: RunView,
    done: int,
    total: int,
    exhausted: bool,
    now: dt.datetime,
) -> None:
    """Every Trial has finished: the run's phase, conditions, event and TTL."""
    failed_all = status.counters.failed == total
    status.phase = "Failed" if (failed_all or exhausted) else "Succeeded"
    status.completion_time = status.completion_time or now
    reason = "BudgetExhausted" if exhausted else ("AllFailed" if failed_all else "Completed")
    set_condition(
        status, "Progressing", "False", reason, status.progress or "", now, run.generation
    )
    failed = "True" if status.phase == "Failed" else "False"
    set_condition(status, "Failed", failed, reason, "", now, run.generation)
    if run.status.phase != status.phase:
        decision.events.append(("Normal", status.phase, f"{done}/{total} trials finished"))
    ttl = run.spec.ttl_seconds_after_finished
    if ttl is not None:
        expires = status.completion_time + dt.timedelta(seconds=ttl)
        if now >= expires:
            decision.delete = True
        else:
            decision.requeue_after = (expires - now).total_seconds()


def _progress(status: runs.BenchmarkRunStatus, run: RunView, now: dt.datetime) -> None:
    """Trials still to finish: Pending, Running or Suspended, and the Progressing condition."""
    status.completion_time = None
    done = status.counters.succeeded + status.counters.failed
    started = status.counters.running + done > 0
    if run.spec.suspend and not status.counters.running:
        status.phase = "Suspended"
    else:
        status.phase = "Running" if started else "Pending"
    if started and status.start_time is None:
        status.start_time = now
    progress = status.progress or ""
    set_condition(status, "Progressing", "True", "TrialsRunning", progress, now, run.generation)
    set_condition(status, "Failed", "False", "Running", "", now, run.generation)


def _count(
    status: runs.BenchmarkRunStatus, tally: _Tally, total: int, cancelled: int, admitted: int
) -> None:
    """The run's counters: the tally, with this decision's cancelled Trials as failed and its
    admitted ones as running (both were waiting: not admitted and not finished)."""
    counters = runs.RunCounters(
        total=total,
        pending=total - tally.active - admitted - tally.succeeded - tally.failed - cancelled,
        running=tally.active + admitted,
        succeeded=tally.succeeded,
        failed=tally.failed + cancelled,
        infra_retried=tally.infra_retried,
    )
    status.counters = counters
    status.progress = f"{counters.succeeded + counters.failed}/{total}"


def _cancelled(old: trials.TrialStatus, message: str, now: dt.datetime) -> trials.TrialStatus:
    return old.model_copy(
        update={
            "phase": "Failed",
            "exit_reason": "cancelled",
            "message": message,
            "finish_time": now,
        }
    )


def best_scores(
    chosen: Sequence[tasks.Task], members: Sequence[TrialView]
) -> dict[tuple[str, str], float]:
    """The best hidden-test score of each (task, agent) over its seeds so far."""
    return rollups.best_scores_of_rows(results.rows_of(chosen, members))


def _leaderboard(
    status: runs.BenchmarkRunStatus,
    run: RunView,
    chosen: Sequence[tasks.Task],
    rows: Sequence[rollups.ScoreRow],
) -> None:
    """AUP per agent under both profiles, from the trials finished so far (`kubegym.rollups`)."""
    if not any(r.is_score for r in rows):
        return
    agents = [a.name for a in run.spec.agents]
    board = rollups.leaderboard_of_rows(
        chosen,
        agents,
        rows,
        best_submission=run.spec.best_submission,
        intervals=False,
        profile=run.profile_label,
        designs=rollups.designs_of(run.spec.agents),
    )
    if board.result is None:
        return  # too few scores for a profile yet
    status.leaderboard = rollups.agent_scores(board)
    status.best_aup = rollups.best_aup(status.leaderboard)


def set_condition(
    status: runs.BenchmarkRunStatus,
    kind: str,
    value: str,
    reason: str,
    message: str,
    now: dt.datetime,
    generation: int,
) -> None:
    old = next((c for c in status.conditions if c.type == kind), None)
    since = old.last_transition_time if old is not None and old.status == value else now
    condition = common.Condition(
        type=kind,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    status.conditions = [*(c for c in status.conditions if c.type != kind), condition]


def _changed(
    old: runs.BenchmarkRunStatus, new: runs.BenchmarkRunStatus
) -> runs.BenchmarkRunStatus | None:
    return None if old == new else new
