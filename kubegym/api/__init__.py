"""The API: every shape kubegym reads or writes, as pydantic models.

The one source of truth: the CRDs under `crds/` are generated from these
models (`kubegym.api.crds`), and `kubegym validate` checks run files with them
(`kubegym.api.documents`).
"""

from kubegym.api.common import API_VERSION, GROUP, VERSION, Condition, ObjectMeta
from kubegym.api.documents import RunFile, load_run_file, parse_run_file
from kubegym.api.runs import Agent, BenchmarkRun, BenchmarkRunSpec, BenchmarkRunStatus
from kubegym.api.tasks import Task, TaskSpec
from kubegym.api.trials import Trial, TrialSpec, TrialStatus, trial_name

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Agent",
    "BenchmarkRun",
    "BenchmarkRunSpec",
    "BenchmarkRunStatus",
    "Condition",
    "ObjectMeta",
    "RunFile",
    "Task",
    "TaskSpec",
    "Trial",
    "TrialSpec",
    "TrialStatus",
    "load_run_file",
    "parse_run_file",
    "trial_name",
]
