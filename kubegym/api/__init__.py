"""The API: every shape kubegym reads or writes, as pydantic models.

The one source of truth: the CRDs under `crds/` are generated from these
models (`kubegym.api.crds`), and `kubegym validate` checks run files with them
(`kubegym.api.documents`).
"""

from typing import TYPE_CHECKING, Any

from kubegym.api.common import API_VERSION, GROUP, VERSION, Condition, ObjectMeta
from kubegym.api.runs import Agent, BenchmarkRun, BenchmarkRunSpec, BenchmarkRunStatus
from kubegym.api.tasks import Task, TaskSpec
from kubegym.api.trials import Trial, TrialSpec, TrialStatus, trial_name

if TYPE_CHECKING:
    from kubegym.api.documents import RunFile, load_run_file, parse_run_file

# The run-file reader needs PyYAML; the metrics and the reasons table import this package
# without it (a sandbox image's neighbours stay light), so its names load on first use.
_DOCUMENTS = frozenset({"RunFile", "load_run_file", "parse_run_file"})


def __getattr__(name: str) -> Any:
    if name in _DOCUMENTS:
        from kubegym.api import documents

        return getattr(documents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
