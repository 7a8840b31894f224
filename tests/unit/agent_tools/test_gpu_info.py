"""MLGym's GPU line from the sandbox's ``nvidia-smi``, shaped as MLGym's bash state command shapes it.

This machine has no GPU: a real executable on the sandbox's PATH prints what ``nvidia-smi
--query-gpu=count,gpu_name,memory.total --format=csv,noheader`` prints on GPU machines, and a
real bash runs the state command's ``read`` and ``echo`` to say what MLGym would have shown.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kubegym.agent_runner.tools import gpu_info
from kubegym.sandbox import client

H100 = "8, NVIDIA H100 80GB HBM3, 81559 MiB\n" * 8
A100 = "1, NVIDIA A100-SXM4-80GB, 81920 MiB\n"
ODD = "2,  Tesla   V100-SXM2-16GB ,16160 MiB\n"


def fake_nvidia_smi(folder: Path, output: str, code: int = 0) -> Path:
    """An ``nvidia-smi`` that answers the query with ``output`` and exits with ``code``."""
    folder.mkdir(exist_ok=True)
    program = folder / "nvidia-smi"
    program.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\nexit {code}\n")
    program.chmod(0o755)
    return program


def as_mlgym_shows(output: str) -> dict[str, str]:
    """What MLGym's state command makes of the query's first line (its read and its echo)."""
    script = (
        'info=$(printf "%s" "$1" | head -n 1)\n'
        "IFS=',' read -r gpu_count gpu_name gpu_memory <<< \"$info\"\n"
        'echo \'{"gpu_count": "\'$gpu_count\'", "gpu_name": "\'$gpu_name\'", '
        '"gpu_memory": "\'$gpu_memory\'"}\'\n'
    )
    done = subprocess.run(
        ["bash", "-c", script, "state", output], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("output", [H100, A100, ODD])
def test_the_fields_are_those_mlgym_s_state_command_passes_on(output: str) -> None:
    info = gpu_info.parse(output)
    assert info is not None
    shown = as_mlgym_shows(output)
    assert (info.count, info.name, info.memory) == (
        shown["gpu_count"],
        shown["gpu_name"],
        shown["gpu_memory"],
    )


def test_the_line_keeps_mlgym_s_blanks() -> None:
    info = gpu_info.parse(H100)
    assert info is not None
    assert info.line() == (
        "(GPU Count: 8, GPU Model:  NVIDIA H100 80GB HBM3, Total memory per GPU:  81559 MiB)"
    )


def test_the_sandbox_s_nvidia_smi_is_asked(sandbox: client.SandboxClient, workdir: Path) -> None:
    fake = fake_nvidia_smi(workdir / "bin", A100)
    assert sandbox.exec(f"export PATH={fake.parent}:$PATH").exit_code == 0
    try:
        info = gpu_info.probe(sandbox)
        assert info is not None
        assert info.line() == (
            "(GPU Count: 1, GPU Model:  NVIDIA A100-SXM4-80GB, Total memory per GPU:  81920 MiB)"
        )
    finally:
        sandbox.exec(f"export PATH=${{PATH#{fake.parent}:}}")


def test_no_nvidia_smi_gives_no_line(sandbox: client.SandboxClient, workdir: Path) -> None:
    assert sandbox.exec("command -v nvidia-smi").exit_code != 0  # no GPU on this machine
    assert gpu_info.probe(sandbox) is None


def test_a_failing_nvidia_smi_gives_no_line(sandbox: client.SandboxClient, workdir: Path) -> None:
    message = "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver."
    fake = fake_nvidia_smi(workdir / "bin", message, code=9)
    sandbox.exec(f"export PATH={fake.parent}:$PATH")
    try:
        # MLGym's `| head -n 1` would hide the status and show the complaint as a GPU count.
        assert gpu_info.probe(sandbox) is None
    finally:
        sandbox.exec(f"export PATH=${{PATH#{fake.parent}:}}")
