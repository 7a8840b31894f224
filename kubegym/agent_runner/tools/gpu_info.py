"""MLGym's GPU line: what the sandbox's ``nvidia-smi`` says, shaped as MLGym's state command does.

MLGym's ``configs/agents/default_gpu_info.yaml`` adds, below the step counter of every
observation, ``(GPU Count: {gpu_count}, GPU Model: {gpu_name}, Total memory per GPU:
{gpu_memory})``, filled by its bash ``state`` command::

    gpu_info=$(nvidia-smi --query-gpu=count,gpu_name,memory.total --format=csv,noheader | head -n 1)
    IFS=',' read -r gpu_count gpu_name gpu_memory <<< "$gpu_info"
    echo '{..., "gpu_name": "'$gpu_name'", ...}'

``read`` with ``IFS=','`` keeps the blank after each comma, and the unquoted expansions in
``echo`` squeeze blanks to one: ``8, NVIDIA H100 80GB HBM3, 81559 MiB`` gives the count ``8``,
the model `` NVIDIA H100 80GB HBM3`` and the memory `` 81559 MiB``, each blank included (hence
MLGym's two spaces after ``GPU Model:``). `parse` reproduces that.

The environment (`kubegym.agent_runner.env.ResearchEnv`) asks once, at reset, before the agent
has run anything: the answer cannot come from a program the agent put on the PATH later, and
GPUs do not change during a trial.
"""

from __future__ import annotations

import dataclasses

from kubegym.sandbox import protocol

QUERY = "nvidia-smi --query-gpu=count,gpu_name,memory.total --format=csv,noheader 2>/dev/null"
"""MLGym's query, whose first line `parse` reads. Its errors are dropped (in MLGym they would
break the state's JSON), and its own status is kept (MLGym's ``| head -n 1`` hides it): an
``nvidia-smi`` that fails, as it does without a driver, gives no line rather than its complaint
as a GPU count."""

TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True)
class GpuInfo:
    """The first GPU's line of ``nvidia-smi``'s query, as MLGym's state command passes it on."""

    count: str
    name: str
    memory: str

    def line(self) -> str:
        """MLGym's line, as its templates write it."""
        return (
            f"(GPU Count: {self.count}, GPU Model: {self.name}, "
            f"Total memory per GPU: {self.memory})"
        )


def _as_echoed(value: str) -> str:
    """An unquoted ``$value`` between quoted text in ``echo``: words joined by single spaces,
    a blank kept where the value started or ended with blanks."""
    words = value.split()
    if not words:
        return " " if value else ""
    lead = " " if value[:1].isspace() else ""
    trail = " " if value[-1:].isspace() else ""
    return lead + " ".join(words) + trail


def parse(output: str) -> GpuInfo | None:
    """The GPU info in the query's output; None when it printed nothing (no GPU, no nvidia-smi)."""
    first = output.split("\n", 1)[0]
    if not first.strip():
        return None
    count, _, rest = first.partition(",")
    name, _, memory = rest.partition(",")
    return GpuInfo(_as_echoed(count), _as_echoed(name), _as_echoed(memory))


def probe(sandbox: protocol.Sandbox) -> GpuInfo | None:
    """Ask the sandbox's ``nvidia-smi``; None when it has no answer."""
    result = sandbox.exec(QUERY, timeout=TIMEOUT_S)
    if result.timed_out or result.exit_code != 0:
        return None
    return parse(result.output)
