"""The mlgym preset's command timeouts: the training timeout for commands that name a training
program, a short one for any other, decided by MLGym's own test and told in MLGym's words.

The sandbox server here has a 3 s default timeout (``SANDBOX_TIMEOUT_S``, read by the conftest),
standing for the task's training timeout (the sandbox's own limit); the short limit is 1 s
instead of MLGym's 25 s, to keep the tests fast.
The attacks: a long command dressed up as training gets the training timeout (MLGym's rule gives
it) and never more; a training program spelt so that MLGym's test misses it gets the short one.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from kubegym.agent_runner import tools
from kubegym.sandbox import client

TRAINING_TIMEOUT_S = SANDBOX_TIMEOUT_S = 3.0
SHORT = "\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 1 SECONDS."
LONG = "\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 3 SECONDS."


@pytest.fixture
def mlgym(sandbox: client.SandboxClient, workdir: Path) -> tools.ToolContext:
    config = dataclasses.replace(tools.ToolConfig.for_preset("mlgym"), short_command_timeout_s=1)
    return tools.ToolContext(
        sandbox=sandbox,
        state=tools.ToolState(),
        config=config,
        task_timeout_s=TRAINING_TIMEOUT_S,
    )


def timed(action: str, ctx: tools.ToolContext) -> tuple[tools.ToolResult, float]:
    start = time.monotonic()
    result = tools.run_action(action, ctx)
    return result, time.monotonic() - start


def test_the_preset_s_settings() -> None:
    config = tools.ToolConfig.for_preset("mlgym")
    assert (config.window, config.overlap, config.lint) == (1000, 2, "flake8")
    assert config.training_commands == ("torchrun", "python", "python3", "accelerate", "deepspeed")
    assert (config.short_command_timeout_s, config.command_timeout_s, config.gpu_info) == (
        25.0,
        None,
        False,
    )
    # MLGym-Bench's runs used default.yaml, which shows no GPU line; its gpu_info variant does.
    with_gpu = tools.ToolConfig.for_preset("mlgym-gpu-info")
    assert with_gpu == dataclasses.replace(config, gpu_info=True)
    assert tools.ToolConfig.for_preset("kubegym") == tools.ToolConfig()
    assert tools.ToolConfig().timeout_for("sleep 100") is None  # kubegym's: the task's limit
    with pytest.raises(ValueError, match="unknown agent preset 'swe'"):
        tools.ToolConfig.for_preset("swe")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("command", "timeout"),
    [
        ("python train.py", None),
        ("python3 -m torch.distributed.run train.py", None),
        ("torchrun --nproc_per_node 2 train.py", None),
        ("accelerate launch train.py", None),
        ("deepspeed train.py", None),
        ("cd src && nohup python train.py > log 2>&1 &", None),
        # MLGym tests substrings of the whole action: a word in a comment or a name counts.
        ("sleep 600 # python", None),
        ("cat python_notes.txt", None),
        ("ls ~/.ipython", None),
        ("ls -la", 25.0),
        ("pip install torch", 25.0),
        ("bash train.sh", 25.0),
        ("PYTHON train.py", 25.0),  # case matters, as in MLGym
        ("p''ython train.py", 25.0),
        ("${PY}thon train.py", 25.0),
    ],
)
def test_which_commands_get_the_training_timeout(command: str, timeout: float | None) -> None:
    assert tools.ToolConfig.for_preset("mlgym").timeout_for(command) == timeout


def test_a_command_without_a_training_word_is_killed_after_the_short_limit(
    mlgym: tools.ToolContext,
) -> None:
    result, took = timed("echo started; sleep 10", mlgym)
    assert (result.exit_code, result.tool) == (124, "bash")
    # MLGym's reader drops what it had read when it gives up: its message alone remains.
    assert result.output == SHORT
    assert took < 2.5


def test_a_training_command_gets_the_task_s_training_timeout(mlgym: tools.ToolContext) -> None:
    result, took = timed("python3 -c 'import time; time.sleep(1.5); print(\"trained\")'", mlgym)
    assert (result.output, result.exit_code) == ("trained\n", 0)
    result, took = timed("python3 -c 'import time; time.sleep(10)'", mlgym)
    assert (result.output, result.exit_code) == (LONG, 124)
    assert 2.5 < took < 5


def test_a_long_command_dressed_as_training_gets_no_more_than_the_training_timeout(
    mlgym: tools.ToolContext,
) -> None:
    # MLGym's rule gives a comment naming python the long timeout...
    result, _ = timed("sleep 1.5; echo done # python", mlgym)
    assert (result.output, result.exit_code) == ("done\n", 0)
    # ...and that is all it gives: the training timeout still ends it.
    result, took = timed("sleep 10 # python torchrun deepspeed accelerate", mlgym)
    assert (result.output, result.exit_code) == (LONG, 124)
    assert took < 5
    # The shell outlives the killed command.
    result, took = timed("echo alive", mlgym)
    assert (result.output, result.exit_code) == ("alive\n", 0)


def test_a_training_program_spelt_past_the_rule_gets_the_short_limit(
    mlgym: tools.ToolContext,
) -> None:
    tools.run_action("PY=pyth; export PY", mlgym)
    result, took = timed("${PY}on3 -c 'import time; time.sleep(10)'", mlgym)
    assert (result.output, result.exit_code) == (SHORT, 124)
    assert took < 2.5


def test_without_an_environment_the_message_still_says_it_timed_out(
    sandbox: client.SandboxClient, workdir: Path
) -> None:
    ctx = tools.ToolContext(
        sandbox=sandbox, state=tools.ToolState(), config=tools.ToolConfig.for_preset("mlgym")
    )
    result, _ = timed("sleep 10 # python", ctx)
    assert (result.output, result.exit_code) == (
        "\nEXECUTION TIMED OUT BECAUSE THE COMMAND RAN PAST ITS TIME LIMIT.",
        124,
    )


def test_kubegym_s_preset_keeps_its_own_message(
    sandbox: client.SandboxClient, workdir: Path
) -> None:
    ctx = tools.ToolContext(sandbox=sandbox, state=tools.ToolState(), config=tools.ToolConfig())
    result, _ = timed("echo started; sleep 10", ctx)
    assert result.exit_code == 124
    assert result.output.startswith("started\n")  # kubegym keeps the output it read
    assert "The command ran past its time limit and was killed." in result.output


def test_interactive_programs_are_still_refused(mlgym: tools.ToolContext) -> None:
    # A deliberate difference (see the README): MLGym's blocklist never fires, and a bare
    # python would wait on its input until the training timeout.
    result, took = timed("python", mlgym)
    assert result.exit_code == 126 and "interactive interpreter" in result.output
    assert took < 1
