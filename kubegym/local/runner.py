"""`kubegym run` on one machine: the grid tasks × agents × seeds, run with the run's parallelism.

Every trial has a stable id (`kubegym.api.trials.trial_name`) and a folder
``OUT/trials/<id>/``; a trial whose ``results.json`` exists is finished and is
never run again, so running the same command again resumes. A trial writes
its results only after its workspace archive is on disk. With an S3 store
(``spec.store.s3``) the folder stays the working copy and every trial's files
go up as it ends, the run's rollups at the end (`kubegym.local.uploads`); a
trial counts as finished in the run's status only once its files are in the
store.

One trial never ends the run: whatever happens in a trial is recorded against
it (`kubegym.api.reasons` names why). Infrastructure failures (a sandbox that
would not start, the model API down) are retried within the run's retry
policy; limits and the agent's own failures (its sandbox killed from inside, a
submission that cannot be scored) are scored outcomes, never retried; any other
error is kubegym's own (``internal_error``): recorded, never retried, and
`RunSummary.exit_code` makes ``kubegym run`` exit non-zero so a person looks.
A trial with a ``results.json`` is finished, whatever its outcome: a resume
never runs it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tarfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from kubegym import egress, evaluator, rollups
from kubegym.agent_runner import agents, loop, tools, trajectory
from kubegym.agent_runner import env as research_env
from kubegym.api import documents, reasons, runs, trials
from kubegym.api import results as results_api
from kubegym.errors import ConfigError, InfraError
from kubegym.local import network, outputs, uploads
from kubegym.local.progress import Progress
from kubegym.sandbox import backends as sandbox_backends
from kubegym.sandbox import quota
from kubegym.scoring import leaderboard as leaderboards
from kubegym.tasks import catalog, datasets

log = structlog.get_logger()

WORKSPACE_ARCHIVE = "workspace.tar.gz"


@dataclass(frozen=True)
class TrialPlan:
    """One cell of the grid and where its evidence goes."""

    id: trials.TrialName
    bundle: catalog.TaskBundle
    agent: runs.Agent
    seed: int
    folder: Path


@dataclass
class RunSummary:
    """What `kubegym run --json` prints."""

    run: str
    out: Path
    trials: list[results_api.TrialResult]
    leaderboard: dict[str, Any]
    skipped: int
    status: runs.BenchmarkRunStatus
    not_durable: frozenset[str] = frozenset()
    """Finished trials whose files still wait in the spool for the S3 store."""

    @property
    def internal_errors(self) -> list[results_api.TrialResult]:
        """The trials kubegym itself failed (``internal_error``), in the plan's order."""
        return [r for r in self.trials if r.exit_reason == reasons.Reason.INTERNAL_ERROR]

    @property
    def exit_code(self) -> int:
        """What ``kubegym run`` exits with: 0 when every trial that ran has a result of the
        agent's or the platform's making (failures included), `EXIT_INTERNAL_ERROR` when
        kubegym itself failed some trial."""
        return EXIT_INTERNAL_ERROR if self.internal_errors else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "out": str(self.out),
            "phase": self.status.phase,
            "counters": self.status.counters.to_wire(),
            "spent_usd": round(self.status.spent_usd, 6),
            "resumed": self.skipped,
            "pending_uploads": len(self.not_durable),
            "trials": [
                {
                    "id": r.trial,
                    "task": r.task,
                    "agent": r.agent,
                    "seed": r.seed,
                    "phase": r.phase,
                    "exit_reason": r.exit_reason,
                    "failure_class": r.failure_class,
                    "score": r.score,
                    "best_attempt": r.best_attempt,
                    "durable": r.trial not in self.not_durable,
                }
                for r in sorted(self.trials, key=lambda r: (r.task, r.agent, r.seed))
            ],
            "leaderboard": self.leaderboard,
        }


SandboxBackend = str
"""A sandbox backend's name (`kubegym.sandbox.backends.BACKENDS`: ``bwrap``, ``process``…)."""

#: `kubegym run`'s exit status when kubegym itself failed a trial (1 is a bad run file or setup).
EXIT_INTERNAL_ERROR = 3


class LocalRun:
    """A BenchmarkRun on this machine.

    Args:
        run_file: the parsed run file (its single BenchmarkRun, and any Tasks).
        run_dir: the folder of the run file (relative paths resolve against it).
        out: the output folder.
        sandbox: ``bwrap`` or ``process``.
        env_factory: builds the research environment of a trial; for tests.
        egress_settings: the trials' egress proxies' settings (tests allow their server's port);
            default: what ``$KUBEGYM_EGRESS_TRUSTED_NETWORKS`` asks for.
    """

    def __init__(
        self,
        run_file: documents.RunFile,
        run_dir: Path,
        out: Path,
        *,
        sandbox: SandboxBackend = "bwrap",
        env_factory: Callable[..., Any] | None = None,
        egress_settings: egress.ProxySettings | None = None,
    ):
        # The run and its tasks under the run's suite profile (spec.profile), if it has one.
        chosen = catalog.select_for_run(run_file.run, run_file, run_dir)
        self.run, self.bundles, self.profile = chosen.run, chosen.bundles, chosen.profile
        self.run_dir = run_dir
        self.out = out.resolve()
        self.sandbox = sandbox
        self._env_factory = env_factory or _research_env
        self._egress_settings = egress_settings or network.settings_from_environment()
        self._spent = 0.0
        self._infra_retried = 0
        self._uploads = uploads.RunUploads.for_run(self.run, run_dir, self.out)

    def plan(self) -> list[TrialPlan]:
        """Every trial of the grid, in order: task, agent, seed."""
        return [
            TrialPlan(
                trials.trial_name(self.run.name, bundle.name, agent.name, seed),
                bundle,
                agent,
                seed,
                self.out
                / "trials"
                / trials.trial_name(self.run.name, bundle.name, agent.name, seed),
            )
            for bundle in self.bundles
            for agent in self.run.spec.agents
            for seed in range(self.run.spec.seeds)
        ]

    def preflight(self) -> None:
        """Check, before anything starts, what would otherwise fail every trial the same way.

        Raises:
            ConfigError: missing data, an unusable sandbox, a bad agent.
        """
        sandbox_backends.BACKENDS.get(self.sandbox).check()
        for bundle in self.bundles:
            spec = bundle.task.spec
            for dataset in spec.datasets:
                datasets.materialize(bundle, dataset)
            evaluator.Judge(bundle, self.run.spec.validation)  # checks the validation and test data
        for bundle in self.bundles:
            for agent_spec in self.run.spec.agents:
                self._agent(agent_spec, bundle)  # replay files, external images, API keys
        for agent_spec in self.run.spec.agents:
            if agent_spec.model is not None:
                agents.ModelAgent(agent_spec).client.check_provider()
            # The agent's tools (the mlgym preset's lint needs flake8 here).
            tools.ToolConfig.for_preset(agent_spec.preset).check(
                f"spec.agents[{agent_spec.name}].preset"
            )

    async def execute(self, progress: Progress | None = None) -> RunSummary:
        """Run every unfinished trial, then write results.csv, the leaderboard and the plot."""
        self.out.mkdir(parents=True, exist_ok=True)
        plans = self.plan()
        finished: dict[str, results_api.TrialResult] = {}
        todo: list[TrialPlan] = []
        for plan in plans:
            done = results_api.read(plan.folder)
            if done is not None:
                finished[plan.id] = done
                self._spent += done.cost_usd
            else:
                todo.append(plan)
        skipped = len(finished)
        if todo:
            self.preflight()
        if self._uploads is not None:
            self._uploads.check()
            self._uploads.flush()  # what an outage left behind last time
            self._uploads.uploader.start_background()
        progress = progress or Progress(total=len(plans))
        progress.resume(finished.values())
        gate = asyncio.Semaphore(self.run.spec.parallelism)
        budget = self.run.spec.budget_usd

        async def one(plan: TrialPlan) -> None:
            async with gate:
                if budget is not None and self._spent >= budget:
                    progress.skipped(plan.id, "budget")
                    return
                progress.started(plan.id)
                results = await asyncio.to_thread(self._run_trial, plan, progress)
                self._spent += results.cost_usd
                finished[plan.id] = results
                progress.finished(results)

        try:
            await asyncio.gather(*(one(plan) for plan in todo))
        finally:
            if self._uploads is not None:
                self._uploads.uploader.close()
        progress.close()
        return self._summarise(plans, finished, skipped)

    # --- one trial --------------------------------------------------------------------

    def _run_trial(self, plan: TrialPlan, progress: Progress) -> results_api.TrialResult:
        """Run a trial's attempts and record its results: whatever happens, it ends recorded."""
        policy = self.run.spec.retry_policy
        attempt = 0
        while True:
            try:
                results = self._attempt(plan, attempt, progress)
            except InfraError as exc:
                cause = reasons.of_cause(exc.reason)
                log.warning("trial_infra_failure", trial=plan.id, attempt=attempt, reason=cause)
                progress.infra_failure(plan.id, cause.value, attempt < policy.infra_retries)
                if attempt >= policy.infra_retries:
                    results = self._unscored(
                        plan, attempt, reasons.Reason.INFRA_ERROR, str(exc), infra_reason=cause
                    )
                    break
                attempt += 1
                self._infra_retried += 1
                time.sleep(policy.delay(attempt))
                continue
            except Exception as exc:  # one trial never ends the run: record it, go on
                log.error(
                    "trial_internal_error",
                    trial=plan.id,
                    attempt=attempt,
                    error=repr(exc),
                    traceback=traceback.format_exc(),
                )
                results = self._unscored(
                    plan, attempt, reasons.Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
                )
            break
        try:
            self._archive(plan)
        except (OSError, tarfile.TarError) as exc:
            # The results stand; the evidence that could not be kept is named.
            log.error("workspace_not_archived", trial=plan.id, error=repr(exc))
            results.details["archive_error"] = f"{type(exc).__name__}: {exc}"
        # Only now is the trial finished: its evidence is on disk before its results are.
        results.write(plan.folder)
        if self._uploads is not None:
            self._uploads.trial(plan.folder, results)
        return results

    def _attempt(
        self, plan: TrialPlan, attempt: int, progress: Progress
    ) -> results_api.TrialResult:
        workspace = plan.folder / "workspace"
        if workspace.exists():  # left by an attempt that was interrupted
            quota.reclaim(workspace)  # its disk quota may still be mounted there
            shutil.rmtree(workspace)
        workspace.mkdir(parents=True)
        spec = plan.bundle.task.spec
        agent = self._agent(plan.agent, plan.bundle, plan.seed)
        net = network.TrialNetwork(
            plan.id, plan.bundle.task, self.run, plan.folder, self._egress_settings
        )
        env = self._env_factory(
            plan.bundle,
            sandbox=net.opener(self.sandbox),
            validation=self.run.spec.validation,
            tool_names=agents.tool_names(plan.agent),
            # The agent's preset decides how its tools behave (window, lint, timeouts).
            tool_config=tools.ToolConfig.for_preset(plan.agent.preset),
            max_validations=self.run.spec.max_validations,
        )
        recorder = trajectory.Recorder(plan.folder, on_step=lambda s: progress.step(plan.id, s))
        wall = float(spec.limits.wall_time_seconds)
        if self.run.spec.deadlines.trial_seconds is not None:
            wall = min(wall, float(self.run.spec.deadlines.trial_seconds))
        try:
            results = loop.run_trial(
                env,
                agent,
                task=plan.bundle.name,
                seed=plan.seed,
                trial_id=plan.id,
                attempt=attempt,
                limits=loop.Limits(
                    max_steps=plan.agent.max_steps or spec.limits.max_steps,
                    cost_limit_usd=plan.agent.cost_limit_usd,
                    wall_time_seconds=wall,
                ),
                recorder=recorder,
                reset_options={"workspace": workspace, "trial": plan.id},
            )
        finally:
            recorder.close()
            env.close()
            net.close()  # after the sandbox: its last tunnels end and are recorded
        results.egress = net.summary(getattr(env, "sandbox_description", {}))
        return results

    def _agent(
        self, spec: runs.Agent, bundle: catalog.TaskBundle, seed: int | None = None
    ) -> agents.Agent:
        starter = bundle.task.spec.starter_code
        return agents.make_agent(
            spec,
            task=bundle.name,
            run_dir=self.run_dir,
            baseline_command=starter.baseline_command if starter else None,
            seed=seed,
        )

    def _unscored(
        self,
        plan: TrialPlan,
        attempt: int,
        reason: reasons.Reason,
        message: str,
        *,
        infra_reason: reasons.Reason | None = None,
    ) -> results_api.TrialResult:
        """The results of a trial that ended without the agent loop's own results."""
        metric = plan.bundle.task.spec.evaluation.metric()
        now = dt.datetime.now(dt.UTC).isoformat()
        details: dict[str, Any] = {}
        if infra_reason is not None:
            details["infra_reason"] = infra_reason.value
        return results_api.TrialResult(
            trial=plan.id,
            task=plan.bundle.name,
            agent=plan.agent.name,
            seed=plan.seed,
            attempt=attempt,
            primary_metric=metric.name,
            direction=metric.direction,
            exit_reason=reason.value,
            scores=[],
            final=None,
            score=None,
            best_attempt=None,
            steps=0,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0.0,
            seconds=0.0,
            message=message,
            failure_class=reason.failure_class.value,
            started=now,
            finished=now,
            details=details,
        )

    @staticmethod
    def _archive(plan: TrialPlan) -> None:
        workspace = plan.folder / "workspace"
        if not workspace.exists():
            return
        partial = plan.folder / f".{WORKSPACE_ARCHIVE}.tmp"
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(workspace, arcname="workspace")
        partial.replace(plan.folder / WORKSPACE_ARCHIVE)
        shutil.rmtree(workspace, ignore_errors=True)

    # --- the run's outputs ------------------------------------------------------------

    def _summarise(
        self,
        plans: Sequence[TrialPlan],
        finished: dict[str, results_api.TrialResult],
        skipped: int,
    ) -> RunSummary:
        done = [finished[p.id] for p in plans if p.id in finished]
        not_durable = self._store_trials(plans, finished)
        chosen = [bundle.task for bundle in self.bundles]
        agent_names = [agent.name for agent in self.run.spec.agents]
        rule = self.run.spec.best_submission
        profile = self.profile
        designs = rollups.designs_of(self.run.spec.agents)
        board = rollups.leaderboard(
            chosen, agent_names, done, best_submission=rule, profile=profile, designs=designs
        )
        status = self._status(plans, done, board, not_durable)
        texts = rollups.files(
            self.run.name,
            chosen,
            agent_names,
            done,
            status,
            best_submission=rule,
            board=board,
            profile=profile,
            designs=designs,
        )
        outputs.write(self.out, texts)
        if board.result is not None:
            outputs.draw(board.result, self.out, f"{self.run.name}: performance profiles")
        if self._uploads is not None:
            self._uploads.rollups(self.out)
            if not self._uploads.durable():
                log.warning("run_not_durable", spool=str(self.out / uploads.SPOOL))
        return RunSummary(
            self.run.name,
            self.out,
            done,
            board.to_json(self.run.name),
            skipped,
            status,
            not_durable,
        )

    def _store_trials(
        self, plans: Sequence[TrialPlan], finished: dict[str, results_api.TrialResult]
    ) -> frozenset[str]:
        """Flush the spool, hand over finished trials not yet in the store; the ones still waiting."""
        if self._uploads is None:
            return frozenset()
        self._uploads.flush()
        waiting = set()
        for plan in plans:
            results = finished.get(plan.id)
            if results is None or self._uploads.is_stored(plan.folder):
                continue
            if not self._uploads.trial(plan.folder, results):
                waiting.add(plan.id)
        return frozenset(waiting)

    def _status(
        self,
        plans: Sequence[TrialPlan],
        finished: Sequence[results_api.TrialResult],
        board: leaderboards.Leaderboard,
        not_durable: frozenset[str],
    ) -> runs.BenchmarkRunStatus:
        # A trial whose files still wait for the store is not finished yet: it counts as running.
        done = [r for r in finished if r.trial not in not_durable]
        failed = sum(1 for r in done if r.failed)
        counters = runs.RunCounters(
            total=len(plans),
            pending=len(plans) - len(finished),
            running=len(finished) - len(done),
            succeeded=len(done) - failed,
            failed=failed,
            infra_retried=self._infra_retried,
        )
        scores = rollups.agent_scores(board)
        if len(done) < len(plans):
            phase: runs.RunPhase = "Running" if finished else "Pending"
        else:
            phase = "Failed" if failed == len(plans) else "Succeeded"
        return runs.BenchmarkRunStatus(
            phase=phase,
            counters=counters,
            progress=f"{len(done)}/{len(plans)}",
            spent_usd=self._spent,
            best_aup=rollups.best_aup(scores),
            leaderboard=scores,
        )


def _research_env(bundle: catalog.TaskBundle, **kwargs: Any) -> Any:
    return research_env.ResearchEnv([bundle], **kwargs)


def load(path: Path) -> tuple[documents.RunFile, Path]:
    """Read a run file; its folder is where relative paths resolve.

    Raises:
        ConfigError: the file cannot be read or has problems.
    """
    run_file = documents.load_run_file(path)
    if not run_file.runs:
        raise ConfigError(
            f"{path} holds no BenchmarkRun", hint="add a `kind: BenchmarkRun` document"
        )
    return run_file, path.resolve().parent
