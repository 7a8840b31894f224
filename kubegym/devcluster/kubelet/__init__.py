"""A kubelet for kubegym's pods on the development cluster: their programs run as local processes.

KWOK's fake nodes bind pods and say they run; nothing runs, so a run never
ends. `ProcessKubelet` plays the node's part for the attempts whose agent pod
KWOK made Running: it reads the attempt's Secret (as a kubelet mounts it),
finds the task's folder by name on kubegym's task search path
(`kubegym.tasks.catalog`), lays out the workspace and the evaluator's eval folder
from it (`kubegym.tasks.datasets.materialize`, preparing data once when the task has
a preparation step), starts the sandbox server (the task's venv first on
``PATH``), the jail container's program (``python -m kubegym.evaluator
jail-serve``: agent code the evaluation runs is started there, in a bubblewrap
jail where it runs, as an unprivileged uid when the kubelet is root) and the
evaluator server (scoring with the task's venv, its jails forwarded to the jail
server through a shared folder and a socket outside the attempt's folder, which
only the kubelet's uid may enter), runs
``python -m kubegym.agent_runner`` with the agent container's environment
(secretKeyRefs resolved from Secrets; the sandbox pod's name under its run's
headless Service, ``<hostname>.<service>.<namespace>.svc``, pointed at the local
ports) and writes the containers' ends into the pods' statuses as a kubelet does: the evaluator's, with its record of the scores (its
``--record`` file) as the termination message, then the agent's, with its
summary; the operator does the rest.

There is no isolation for the sandbox: its shell runs on this machine without
bubblewrap. It is a development aid, for the dev cluster only.
``kubegym dev-cluster kubelet`` (`kubegym.cli.dev_cluster`) runs it; the cluster
tests use it too (``tests/cluster/process_kubelet.py``).

Each attempt runs once per process: the kubelet remembers which (namespace,
trial, attempt) it started. A restarted kubelet runs again the attempts whose
agent pod is still Running (the attempt it was running when it stopped is
started afresh).

The parts: `runner` (`ProcessKubelet`), `attempts` (an attempt's files and the agent's
environment) and `podstatus` (the containers' ends, written as a kubelet writes them).
"""

from kubegym.devcluster.kubelet.attempts import (
    CONFIG,
    EVALUATOR_RECORD,
    EVALUATOR_TOKEN,
    SANDBOX_TOKEN,
    SecretLookup,
    agent_env,
    error_message,
    find_task,
    lay_out,
    task_folders,
)
from kubegym.devcluster.kubelet.podstatus import replace_pod_status, terminated_status
from kubegym.devcluster.kubelet.runner import SELECTOR, ProcessKubelet

__all__ = [
    "CONFIG",
    "EVALUATOR_RECORD",
    "EVALUATOR_TOKEN",
    "SANDBOX_TOKEN",
    "SELECTOR",
    "ProcessKubelet",
    "SecretLookup",
    "agent_env",
    "error_message",
    "find_task",
    "lay_out",
    "replace_pod_status",
    "task_folders",
    "terminated_status",
]
