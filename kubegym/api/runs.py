"""The BenchmarkRun kind: the grid tasks × agents × seeds, its budgets, policies and rollup.

Read by the local runner and the operator, which expand it into Trials
(`kubegym.api.trials`) and write its status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from kubegym.api import common
from kubegym.api.common import DnsLabel, DnsSubdomain, Model, Rule


class TaskSelection(Model):
    """Which tasks a run covers: names, a label selector, or a suite — exactly one."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="[has(self.names), has(self.selector), has(self.suite)].filter(x, x).size() == 1",
            message="choose tasks in exactly one way: names, selector or suite",
            check=lambda s: sum(x is not None for x in (s.names, s.selector, s.suite)) == 1,
        ),
        common.unique(
            "names", None, "a task is named twice: each task runs once per agent and seed"
        ),
    )

    names: (
        Annotated[
            list[DnsLabel],
            Field(
                min_length=1, max_length=256, json_schema_extra={"x-kubernetes-list-type": "set"}
            ),
        ]
        | None
    ) = None
    """Task names, each a Task in the run file, the namespace or the built-in suite."""

    selector: common.LabelSelector | None = None
    """A label selector over the Tasks in the namespace."""

    suite: DnsLabel | None = None
    """A named suite of tasks, such as `mlgym-bench`."""


class Sampling(Model):
    """Sampling parameters passed to the model on every call."""

    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0
    """Sampling temperature; 0 for the most deterministic replies."""

    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    """Nucleus sampling mass; the provider's default when absent."""

    max_tokens: Annotated[int, Field(ge=1)] | None = None
    """The most tokens in one reply."""

    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    """A sampling seed for providers that honour one; the trial's seed when absent."""


class Pricing(Model):
    """A price override, for models litellm's price table lacks (self-hosted, new)."""

    input_usd_per_million_tokens: Annotated[float, Field(ge=0)]
    """USD per million prompt tokens."""

    output_usd_per_million_tokens: Annotated[float, Field(ge=0)]
    """USD per million completion tokens."""


class EgressRule(Model):
    """Where an agent pod may connect on a cluster, besides DNS and its own sandbox pod."""

    cidr: Annotated[str, Field(pattern=r"^[0-9a-fA-F.:]+/[0-9]{1,3}$")]
    """The destination addresses, as a CIDR (`203.0.113.7/32`, `0.0.0.0/0`)."""

    except_cidrs: list[Annotated[str, Field(pattern=r"^[0-9a-fA-F.:]+/[0-9]{1,3}$")]] = Field(
        default_factory=list
    )
    """Addresses inside `cidr` that stay closed."""

    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1)]
    """The TCP ports open there."""


AgentPreset = Literal["kubegym", "mlgym", "mlgym-gpu-info"]
#: The presets that reproduce MLGym's agent: its default (the one MLGym-Bench's published runs
#: used) and its `default_gpu_info` variant, which adds a GPU line to every step's prompt.
MLGYM_PRESETS: tuple[AgentPreset, ...] = ("mlgym", "mlgym-gpu-info")


class Agent(Model):
    """One agent of a run: a litellm model, a built-in agent, or someone else's image."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="[has(self.model), has(self.image), has(self.builtin)].filter(x, x).size() == 1",
            message="an agent is exactly one of: model (litellm), image (external agent) or builtin",
            check=lambda a: sum(x is not None for x in (a.model, a.image, a.builtin)) == 1,
        ),
        Rule(
            cel="!has(self.builtin) || self.builtin != 'replay' || has(self.replayPath)",
            message="the replay agent needs replayPath, the trajectory file to replay",
            check=lambda a: a.builtin != "replay" or a.replay_path is not None,
            field="replayPath",
        ),
        Rule(
            cel="!has(self.preset) || self.preset == 'kubegym' || has(self.model)",
            message="a preset other than kubegym is a model agent's design: set model too",
            check=lambda a: a.preset == "kubegym" or a.model is not None,
            field="preset",
        ),
    )

    name: DnsLabel
    """The agent's name in results and leaderboards, unique within the run."""

    model: Annotated[str, Field(min_length=1)] | None = None
    """A litellm model string, such as `openai/gpt-4o` or `hosted_vllm/qwen`."""

    image: Annotated[str, Field(min_length=1)] | None = None
    """A container image of an external agent that speaks the sandbox API."""

    builtin: Literal["baseline", "replay"] | None = None
    """A built-in agent that needs no network: `baseline` or `replay`."""

    preset: AgentPreset = "kubegym"
    """For a model agent: whose agent design it follows. `kubegym`, kubegym's own (its prompts,
    tools and history); `mlgym`, MLGym-Bench's default agent reproduced for comparability (its
    templates and demonstrations, tools, 1,000-line file window, history processor, sampling,
    limits and automatic submissions: `configs/agents/default.yaml`, which every MLGym-Bench
    run used); `mlgym-gpu-info`, the same with MLGym's `default_gpu_info.yaml` GPU line on
    every step for tasks with GPUs. Recorded in the leaderboard's scope."""

    replay_path: str | None = None
    """For `builtin: replay`: a JSON-lines file of `{"action": ...}` to replay."""

    sampling: Sampling = Field(default_factory=Sampling, json_schema_extra={"default": {}})
    """Sampling parameters for every model call."""

    api_base: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """The model server's base URL, for vLLM, ollama or a gateway."""

    egress: list[EgressRule] | None = None
    """On a cluster: where the agent pod may connect (its NetworkPolicy). None: HTTPS (443,
    and `apiBase`'s port) to public addresses only, for model and image agents; nowhere for
    built-in agents. DNS and the trial's sandbox and evaluator are always open."""

    api_key_secret: common.SecretKeyRef | None = None
    """On a cluster: the Secret key holding the model API key (only the agent pod sees it)."""

    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    """Locally: the environment variable holding the model API key."""

    pricing: Pricing | None = None
    """A price override; litellm's price table otherwise."""

    cost_limit_usd: Annotated[float, Field(ge=0)] = 4.0
    """The most one trial may spend on model calls; the artifact is submitted then."""

    max_steps: Annotated[int, Field(ge=1)] | None = None
    """The most steps per trial; the task's limit when absent."""

    history_window: Annotated[int, Field(ge=1)] = 5
    """How many recent turns (replies and their observations) the model sees besides the task
    message; older turns are dropped whole (MLGym instead keeps every reply and elides only
    observations older than its last 5)."""

    tools: list[Annotated[str, Field(pattern=r"^[a-z][a-z_]*$")]] | None = None
    """The tools the agent may use; all of kubegym's tools when absent."""

    def design(self) -> str:
        """What the agent is, as a leaderboard's scope records it: its kind, model or image,
        preset, and a digest of every setting that changes how it acts (sampling, limits,
        history, tools). Where it is served, its key, prices and network are left out: they
        do not change what the agent does. Two agents of one name with different designs are
        different methods."""
        if self.builtin is not None:
            return f"builtin {self.builtin}"
        if self.image is not None:
            return f"image {self.image}"
        acting = self.model_dump(
            mode="json",
            include={"sampling", "cost_limit_usd", "max_steps", "history_window", "tools"},
        )
        digest = hashlib.sha256(json.dumps(acting, sort_keys=True).encode()).hexdigest()[:12]
        return f"model {self.model}, preset {self.preset}, settings {digest}"


class RetryPolicy(Model):
    """How infrastructure failures (OOMKilled, evicted, node lost…) are retried."""

    infra_retries: Annotated[int, Field(ge=0, le=20)] = 3
    """New attempts allowed per trial after an infrastructure failure."""

    preemption_retries: Annotated[int, Field(ge=0, le=50)] = 10
    """New attempts allowed per trial after preemptions (by Kueue or the scheduler), which
    do not count against `infraRetries`: a trial preempted more often fails as `infra_error`
    rather than waiting for ever on a cluster that never lets it finish."""

    backoff_seconds: Annotated[int, Field(ge=0)] = 30
    """The wait before the first retry; it doubles each time."""

    max_backoff_seconds: Annotated[int, Field(ge=0)] = 900
    """The longest wait between attempts."""

    def delay(self, attempt: int) -> int:
        """Seconds to wait before attempt `attempt` (the first retry is attempt 1)."""
        if attempt <= 0:
            return 0
        return int(min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds))


class Deadlines(Model):
    """Time limits of the run on top of each task's own limits."""

    scheduling_seconds: Annotated[int, Field(ge=1)] = 900
    """How long a trial's pods may wait for a node before it is Unschedulable (an infra failure)."""

    trial_seconds: Annotated[int, Field(ge=1)] | None = None
    """A wall-time cap for every trial, overriding longer task limits."""


class S3Store(Model):
    """An S3-compatible bucket (AWS, MinIO, Ceph, GCS interop)."""

    bucket: Annotated[
        str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    ]
    """The bucket's name."""

    prefix: str = "kubegym"
    """The key prefix every object of this run goes under."""

    endpoint: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """The S3 endpoint; AWS's when absent."""

    region: str | None = None
    """The region, for AWS."""

    credentials_secret: DnsLabel | None = None
    """A Secret with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; the environment's credentials when absent."""


class LocalStore(Model):
    """A folder on this machine."""

    path: Annotated[str, Field(min_length=1)]
    """The folder; created when missing."""


class Store(Model):
    """Where artifacts go: exactly one of s3 or local."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="has(self.s3) != has(self.local)",
            message="choose exactly one store: s3 or local",
            check=lambda s: (s.s3 is None) != (s.local is None),
        ),
    )

    s3: S3Store | None = None
    """An S3 bucket."""

    local: LocalStore | None = None
    """A local folder."""


BestSubmissionRule = Literal["final-submit", "last-score"]
"""How a trial's best-submission score is chosen (`BenchmarkRunSpec.best_submission`)."""


def _unset_on_server(schema: dict[str, Any]) -> None:
    """No `default` in the CRD: a suite profile (`profile`) defaults the field, and the run's
    own value wins only when written, so the API server must not write one for it."""
    schema.pop("default", None)


class BenchmarkRunSpec(Model):
    """The grid tasks × agents × seeds and how to run it."""

    rules: ClassVar[tuple[Rule, ...]] = (
        # Trial names and the leaderboard are keyed by the agent's name: two agents
        # with one name would share trials and be merged into one row.
        common.unique(
            "agents", "name", "two agents have the same name; agent names must be unique"
        ),
    )

    tasks: TaskSelection
    """Which tasks."""

    agents: Annotated[list[Agent], Field(min_length=1, max_length=64)] = Field(
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
    )
    """Which agents; each runs every task with every seed."""

    seeds: Annotated[int, Field(ge=1, le=100)] = 1
    """How many seeds per task and agent (seeds 0 … seeds-1)."""

    parallelism: Annotated[int, Field(ge=1, le=10000)] = 1
    """The most trials running at once."""

    budget_usd: Annotated[float, Field(ge=0)] | None = None
    """The most the whole run may spend on models; no new trial starts once it is spent."""

    retry_policy: RetryPolicy = Field(
        default_factory=RetryPolicy, json_schema_extra={"default": {}}
    )
    """How infrastructure failures are retried."""

    deadlines: Deadlines = Field(default_factory=Deadlines, json_schema_extra={"default": {}})
    """Scheduling and trial deadlines."""

    profile: DnsLabel | None = None
    """A suite profile (`profiles/<name>.yaml` on the task search path) that sets the chosen
    tasks' resources, limits, software, data and egress, and this run's defaults, to another
    benchmark's setting: `mlgym-bench` reproduces MLGym-Bench's. A field the run sets itself
    wins over the profile's default. Recorded in the leaderboard's scope."""

    sandbox_egress: common.Egress = Field(
        default_factory=common.Egress, json_schema_extra=_unset_on_server
    )
    """Hosts every sandbox of the run may reach through kubegym's egress proxy, besides each
    task's own `egress.hosts`; every request is logged in the trial's results. Unset: the
    profile's, else none."""

    validation: Literal["heldout", "test"] = Field("heldout", json_schema_extra=_unset_on_server)
    """`heldout` scores validate on validation data; `test` on the test data, as MLGym did.
    Unset: the profile's, else `heldout`."""

    best_submission: BestSubmissionRule = Field("final-submit", json_schema_extra=_unset_on_server)
    """Which score of a trial is its "best submission" on the leaderboard: `final-submit`
    (kubegym's rule) takes the final submission, and none when it was not valid;
    `last-score` (MLGym's) takes the last artifact the evaluator scored validly, a validate
    or a submit, as MLGym-Bench's tables did. Recorded in the leaderboard's scope. Unset: the
    profile's, else `final-submit`."""

    max_validations: Annotated[int, Field(ge=0)] | None = None
    """The most validate calls per trial, for every task (a task's own `limits.maxValidations`
    may be lower: the smaller wins); none: the task's cap, if any."""

    store: Store | None = None
    """Where artifacts go; the operator's (or `--out`'s) default when absent."""

    ttl_seconds_after_finished: Annotated[int, Field(ge=0)] | None = None
    """Delete the run (and everything it owns) this long after it finishes."""

    suspend: bool = False
    """While true, no new trial starts; running ones finish."""

    queue_name: DnsLabel | None = None
    """A Kueue LocalQueue: pods then carry Kueue's queue label and wait for admission."""

    workload_priority_class: DnsSubdomain | None = None
    """A Kueue WorkloadPriorityClass for the trials' workloads: who waits and who is
    preempted first in the ClusterQueue. Used only when the pods are queued (`queueName`,
    or the operator's default queue); Kueue refuses a class that does not exist."""


class RunCounters(Model):
    """How many trials are where."""

    total: Annotated[int, Field(ge=0)] = 0
    """Trials in the grid."""

    pending: Annotated[int, Field(ge=0)] = 0
    """Not started yet (or waiting for a retry)."""

    running: Annotated[int, Field(ge=0)] = 0
    """Started, not finished."""

    succeeded: Annotated[int, Field(ge=0)] = 0
    """Finished with a scored outcome."""

    failed: Annotated[int, Field(ge=0)] = 0
    """Finished without a score (agent failure, or infrastructure failures past the retry policy)."""

    infra_retried: Annotated[int, Field(ge=0)] = 0
    """Attempts retried after an infrastructure failure, over all trials."""


class AgentScore(Model):
    """One agent's standing in the run: AUP under both of MLGym's profiles."""

    agent: DnsLabel
    """The agent's name."""

    best_attempt_aup: float | None = None
    """AUP of the best validate-or-submit score over seeds (test data, unseen by the agent)."""

    best_submission_aup: float | None = None
    """AUP of the best final submission over seeds."""


RunPhase = Literal["Pending", "Running", "Suspended", "Succeeded", "Failed"]


class BenchmarkRunStatus(Model):
    """What the operator (or the local runner) reports about a run."""

    phase: RunPhase = "Pending"
    """Where the run is."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The spec generation this status reflects."""

    counters: RunCounters = Field(default_factory=RunCounters)
    """Trials by state."""

    progress: str | None = None
    """Finished over total trials, as `done/total` (a printer column)."""

    spent_usd: Annotated[float, Field(ge=0)] = 0.0
    """USD spent on model calls so far."""

    best_aup: float | None = None
    """The best best-attempt AUP over agents (a printer column)."""

    leaderboard: list[AgentScore] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["agent"],
        },
    )
    """AUP per agent, when known: from the trials finished so far, rolled up again as more
    finish (a run of thousands of trials, every few seconds, at most 30 s apart), and
    from all of them once the run has finished."""

    conditions: list[common.Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready, Progressing, Failed, BudgetExhausted…"""

    start_time: dt.datetime | None = None
    """When the first trial started."""

    completion_time: dt.datetime | None = None
    """When the last trial finished."""


class BenchmarkRun(Model):
    """A BenchmarkRun object: `kind: BenchmarkRun` in a run file or on the cluster."""

    api_version: Literal["kubegym.io/v1alpha1"] = common.API_VERSION
    """Always `kubegym.io/v1alpha1`."""

    kind: Literal["BenchmarkRun"] = "BenchmarkRun"
    """Always `BenchmarkRun`."""

    metadata: common.ObjectMeta
    """The run's name."""

    spec: BenchmarkRunSpec
    """The grid and its settings."""

    status: BenchmarkRunStatus | None = None
    """Written by the operator."""

    @property
    def name(self) -> str:
        return self.metadata.name
