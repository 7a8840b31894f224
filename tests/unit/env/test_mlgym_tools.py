"""ResearchEnv with the mlgym tool preset: the task's training timeout, the GPU line, flake8.

Real bubblewrap sandboxes over the polyfit example task, changed to ask for a GPU and to have a
3 s training timeout. This machine has no GPU: the sandbox's shell finds an ``nvidia-smi`` that
prints what one prints, as a GPU node's image would have it on its PATH.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym.agent_runner import tools
from kubegym.agent_runner.env import ResearchEnv
from kubegym.agent_runner.tools import lint
from kubegym.errors import ConfigError
from kubegym.sandbox import backends, local
from kubegym.tasks.catalog import TaskBundle

H100 = "8, NVIDIA H100 80GB HBM3, 81559 MiB"
H100_LINE = "(GPU Count: 8, GPU Model:  NVIDIA H100 80GB HBM3, Total memory per GPU:  81559 MiB)"


def variant(polyfit: TaskBundle, gpus: int, training_timeout: int = 3) -> TaskBundle:
    spec = polyfit.task.spec
    resources = spec.resources.model_copy(
        update={"gpu": spec.resources.gpu.model_copy(update={"count": gpus})}
    )
    limits = spec.limits.model_copy(update={"training_timeout_seconds": training_timeout})
    spec = spec.model_copy(update={"resources": resources, "limits": limits})
    return TaskBundle(polyfit.task.model_copy(update={"spec": spec}), polyfit.root)


def with_nvidia_smi(request: local.SandboxRequest) -> backends.OpenSandbox:
    """A bubblewrap sandbox whose shell finds an ``nvidia-smi`` (in its workspace's .gpu/)."""
    program = request.workspace / ".gpu" / "nvidia-smi"
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text(f"#!/bin/sh\necho '{H100}'\n")
    program.chmod(0o755)
    opened = backends.open_sandbox(request, "bwrap")
    assert opened.client.exec("export PATH=/workspace/.gpu:$PATH").exit_code == 0
    return opened


def mlgym_env(bundle: TaskBundle, **config: Any) -> ResearchEnv:
    settings = dataclasses.replace(tools.ToolConfig.for_preset("mlgym-gpu-info"), **config)
    return ResearchEnv([bundle], sandbox=with_nvidia_smi, tool_config=settings)


@pytest.fixture
def gpu_env(polyfit: TaskBundle) -> Iterator[ResearchEnv]:
    env = mlgym_env(variant(polyfit, gpus=1), short_command_timeout_s=1)
    yield env
    env.close()


def test_the_gpu_line_is_read_at_reset_and_kept(gpu_env: ResearchEnv) -> None:
    _, info = gpu_env.reset(seed=0, options={"task": "polyfit"})
    assert info["gpu_line"] == H100_LINE == gpu_env.gpu_line
    _, _, _, _, info = gpu_env.step("nvidia-smi --query-gpu=name --format=csv,noheader")
    assert info["gpu_line"] == H100_LINE
    # The agent plants its own nvidia-smi first on the PATH: the line does not follow it.
    planted = "mkdir -p /tmp/bin && printf '#!/bin/sh\\necho 64, NVIDIA B200, 999999 MiB\\n' > /tmp/bin/nvidia-smi"
    gpu_env.step(planted + " && chmod +x /tmp/bin/nvidia-smi && export PATH=/tmp/bin:$PATH")
    observation, _, _, _, info = gpu_env.step("nvidia-smi")
    assert "B200" in observation  # its own command sees its program...
    assert info["gpu_line"] == H100_LINE == gpu_env.gpu_line  # ...the line does not


def test_no_gpus_no_line(polyfit: TaskBundle) -> None:
    env = mlgym_env(variant(polyfit, gpus=0))
    try:
        _, info = env.reset(seed=0, options={"task": "polyfit"})
        assert info["gpu_line"] is None and env.gpu_line is None
    finally:
        env.close()


def test_kubegym_s_preset_shows_no_gpu_line(polyfit: TaskBundle) -> None:
    env = ResearchEnv([variant(polyfit, gpus=1)], sandbox=with_nvidia_smi)
    try:
        _, info = env.reset(seed=0, options={"task": "polyfit"})
        assert info["gpu_line"] is None
    finally:
        env.close()


def test_commands_get_the_task_s_training_timeout_or_the_short_one(gpu_env: ResearchEnv) -> None:
    gpu_env.reset(seed=0, options={"task": "polyfit"})
    start = time.monotonic()
    _, _, _, _, info = gpu_env.step("sleep 10 # python")
    took = time.monotonic() - start
    assert info["exit_code"] == 124
    assert 2.5 < took < 6  # the task's 3 s, no more
    observation, _, _, _, info = gpu_env.step("sleep 10")
    assert info["exit_code"] == 124
    assert (
        "EXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 1 SECONDS."
        in observation
    )


def test_the_training_timeout_in_the_message_is_the_task_s(polyfit: TaskBundle) -> None:
    env = mlgym_env(variant(polyfit, gpus=0, training_timeout=2))
    try:
        env.reset(seed=0, options={"task": "polyfit"})
        observation, _, _, _, _ = env.step("python3 -c 'import time; time.sleep(10)'")
        assert (
            "EXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 2 SECONDS."
            in observation
        )
    finally:
        env.close()


def test_an_edit_is_linted_in_the_environment(gpu_env: ResearchEnv) -> None:
    gpu_env.reset(seed=0, options={"task": "polyfit"})
    workspace = gpu_env.workspace
    assert workspace is not None
    before = (workspace / "baseline.py").read_bytes()
    gpu_env.step("open baseline.py")
    observation, _, _, _, info = gpu_env.step(
        "edit 1:1\nimport numpy as np\nprint(undefined)\nend_of_edit"
    )
    assert info["exit_code"] == 1
    assert "- F821 undefined name 'undefined'" in observation
    assert (workspace / "baseline.py").read_bytes() == before


def test_a_runner_without_flake8_is_told_at_once(
    polyfit: TaskBundle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(lint, "PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(ConfigError, match="flake8 does not start"):
        ResearchEnv([polyfit], tool_config=tools.ToolConfig.for_preset("mlgym"))


def test_an_edit_of_read_only_data_is_refused_in_mlgym_s_words(gpu_env: ResearchEnv) -> None:
    gpu_env.reset(seed=0, options={"task": "polyfit"})
    gpu_env.step("open data/train.csv")
    observation, _, _, _, info = gpu_env.step("edit 1:1\nx,y\nend_of_edit")
    assert info["exit_code"] == 1
    assert observation.startswith("Error: You cannot edit read-only file /workspace/data/train.csv")
