"""Every metric kubegym exports, defined once, on a registry of kubegym's own.

`kubegym.metrics.recorder` updates these families; the operator, the local
runner (through `kubegym.local.metrics`) and the store call the recorder,
never the families directly. The rules file (``rules.yaml``) and the Grafana
dashboards read the names defined here.

Cardinality is bounded on purpose: labels name a run (``namespace``, ``run``),
a task, an agent, a phase, a profile, a reason, a Kubernetes kind, a store
backend, or an API request's verb, resource and status code — never a trial, a
seed, a step or a pod (per-trial detail lives in the store). ``tests/metrics``
fails when a label outside `ALLOWED_LABELS` appears.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Label names, so the recorder, the rules and the tests spell them one way.
NAMESPACE = "namespace"
RUN = "run"
TASK = "task"
AGENT = "agent"
PHASE = "phase"
PROFILE = "profile"
REASON = "reason"
TOKEN_TYPE = "type"
KIND = "kind"
BACKEND = "backend"
VERB = "verb"
RESOURCE = "resource"
CODE = "code"

RUN_LABELS = (NAMESPACE, RUN)
ALLOWED_LABELS = frozenset(
    {
        NAMESPACE,
        RUN,
        TASK,
        AGENT,
        PHASE,
        PROFILE,
        REASON,
        TOKEN_TYPE,
        KIND,
        BACKEND,
        VERB,
        RESOURCE,
        CODE,
    }
)

# Trials last from seconds (a crashed sandbox) to a day (MLGym's longest GPU tasks).
TRIAL_SECONDS_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
# Apply → running: sub-second on a warm node, minutes when a GPU node scales up.
SCHEDULING_SECONDS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# One reconcile is an API round trip or a few; seconds mean the apiserver is struggling.
RECONCILE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# One object up to the store: a small JSON file to a multi-GiB workspace archive.
UPLOAD_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Families:
    """The metric families, registered on ``registry``.

    Args:
        registry: where they are registered; a fresh `CollectorRegistry` by
            default, so kubegym never mixes with (or collides in) the global one.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        # Registration order is exposition order: keep the groups in this order.
        self._register_trials(self.registry)
        self._register_agents(self.registry)
        self._register_failures(self.registry)
        self._register_scores(self.registry)
        self._register_runs(self.registry)
        self._register_operator(self.registry)
        self._register_store(self.registry)

    def _register_trials(self, r: CollectorRegistry) -> None:
        """Trials by phase, finished trials, their durations and their wait to run."""
        self.trials = Gauge(
            "kubegym_trials",
            "Trials of a run in each phase (Pending, Running, Succeeded, Failed).",
            [*RUN_LABELS, PHASE],
            registry=r,
        )
        self.trials_finished = Counter(
            "kubegym_trials_finished_total",
            "Trials that reached Succeeded or Failed since this exporter started.",
            [*RUN_LABELS, TASK, AGENT, PHASE],
            registry=r,
        )
        self.trial_duration = Histogram(
            "kubegym_trial_duration_seconds",
            "Wall time of finished trials, from the agent's first step to its results.",
            [*RUN_LABELS, TASK],
            buckets=TRIAL_SECONDS_BUCKETS,
            registry=r,
        )
        self.scheduling_latency = Histogram(
            "kubegym_trial_scheduling_latency_seconds",
            "Time from a trial's creation (or, locally, the run's start) until its sandbox runs.",
            [*RUN_LABELS, TASK],
            buckets=SCHEDULING_SECONDS_BUCKETS,
            registry=r,
        )

    def _register_agents(self, r: CollectorRegistry) -> None:
        """Agents' steps, tokens and model spend."""
        self.steps = Counter(
            "kubegym_agent_steps_total",
            "Agent steps (one model call and one action each).",
            [*RUN_LABELS, AGENT],
            registry=r,
        )
        self.tokens = Counter(
            "kubegym_agent_tokens_total",
            "Model tokens used by agents, by type (prompt or completion).",
            [*RUN_LABELS, AGENT, TOKEN_TYPE],
            registry=r,
        )
        self.cost = Counter(
            "kubegym_agent_cost_usd_total",
            "Model spend of agents in US dollars.",
            [*RUN_LABELS, AGENT],
            registry=r,
        )

    def _register_failures(self, r: CollectorRegistry) -> None:
        """Attempts lost to the infrastructure, and their retries."""
        self.infra_failures = Counter(
            "kubegym_infra_failures_total",
            "Trial attempts lost to the infrastructure (not the agent), by reason.",
            [*RUN_LABELS, REASON],
            registry=r,
        )
        self.retries = Counter(
            "kubegym_trial_retries_total",
            "Trial attempts started again after an infrastructure failure, by reason.",
            [*RUN_LABELS, REASON],
            registry=r,
        )

    def _register_scores(self, r: CollectorRegistry) -> None:
        """Best scores per task and agent, and AUP per agent."""
        self.best_score = Gauge(
            "kubegym_best_score",
            "Best hidden-test score (best attempt) over a task's seeds, in the task's primary metric.",
            [*RUN_LABELS, TASK, AGENT],
            registry=r,
        )
        self.aup = Gauge(
            "kubegym_aup",
            "Area under the performance profile per agent (profile: best_attempt or best_submission).",
            [*RUN_LABELS, AGENT, PROFILE],
            registry=r,
        )

    def _register_runs(self, r: CollectorRegistry) -> None:
        """A run's budget, spend, planned and finished trials, and last progress."""
        self.budget = Gauge(
            "kubegym_run_budget_usd",
            "The run's model budget in US dollars (absent when the run has none).",
            list(RUN_LABELS),
            registry=r,
        )
        self.spend = Gauge(
            "kubegym_run_spend_usd",
            "Model spend of the run so far in US dollars, resumed trials included.",
            list(RUN_LABELS),
            registry=r,
        )
        self.planned = Gauge(
            "kubegym_run_trials_planned",
            "Trials in the run's grid (tasks × agents × seeds).",
            list(RUN_LABELS),
            registry=r,
        )
        self.finished = Gauge(
            "kubegym_run_trials_finished",
            "Trials of the run that reached Succeeded or Failed, resumed trials included.",
            list(RUN_LABELS),
            registry=r,
        )
        self.last_progress = Gauge(
            "kubegym_run_last_progress_timestamp_seconds",
            "Unix time of the run's last progress: its start, a trial starting, a step, a trial ending.",
            list(RUN_LABELS),
            registry=r,
        )

    def _register_operator(self, r: CollectorRegistry) -> None:
        """The operator's reconciles (their durations and errors), its dropped Events, its
        leadership and its requests to the Kubernetes API."""
        self.leader = Gauge(
            "kubegym_operator_leader",
            "1 while this operator process is the leader and reconciles; 0 on a standby replica.",
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "kubegym_operator_reconcile_duration_seconds",
            "Time the operator spent in one reconcile of an object, by Kubernetes kind.",
            [KIND],
            buckets=RECONCILE_SECONDS_BUCKETS,
            registry=r,
        )
        self.reconcile_errors = Counter(
            "kubegym_operator_reconcile_errors_total",
            "Reconciles that raised (and will be retried by the operator), by Kubernetes kind.",
            [KIND],
            registry=r,
        )
        self.events_dropped = Counter(
            "kubegym_operator_events_dropped_total",
            "Kubernetes Events the operator did not post (over its rate limit), by the kind of "
            "object they were about; the transitions stay in the objects' status and the log.",
            [KIND],
            registry=r,
        )
        self.api_requests = Counter(
            "kubegym_operator_api_requests",
            "Requests the operator made to the Kubernetes API itself (its writes and its own "
            "reads; kopf's watches aside), by verb (LIST for a collection's GET), resource "
            "(group/resource/subresource, as the API server's apiserver_request_total names "
            "it) and HTTP status code (error when no answer came).",
            [VERB, RESOURCE, CODE],
            registry=r,
        )

    def _register_store(self, r: CollectorRegistry) -> None:
        """Uploads to the artifact store: bytes, durations and failures."""
        self.upload_bytes = Counter(
            "kubegym_store_upload_bytes_total",
            "Bytes written to the artifact store, by backend (s3 or local).",
            [BACKEND],
            registry=r,
        )
        self.upload_duration = Histogram(
            "kubegym_store_upload_duration_seconds",
            "Time to upload and verify one object in the artifact store, by backend.",
            [BACKEND],
            buckets=UPLOAD_SECONDS_BUCKETS,
            registry=r,
        )
        self.upload_failures = Counter(
            "kubegym_store_upload_failures_total",
            "Uploads to the artifact store that failed (each try), by backend.",
            [BACKEND],
            registry=r,
        )
