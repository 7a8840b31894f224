"""The system prompt, the task message and the state line."""

from __future__ import annotations

import pytest

from kubegym.agent_runner import prompts, tools
from kubegym.errors import ConfigError


def prompt(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "submission_path": "submission.csv",
        "command_timeout": 1800,
        "max_steps": 50,
    } | overrides
    return prompts.system_prompt(**arguments)  # type: ignore[arg-type]


def test_the_system_prompt_lists_every_tool_and_the_rules() -> None:
    text = prompt()
    assert tools.tool_docs() in text
    assert "ONE command per reply" in text
    assert "at most 1800 seconds" in text
    assert "You have 50 steps" in text
    assert "`submission.csv`" in text
    assert "`data/`" in text
    assert "`validate` scores" in text and "`submit` hands in" in text
    assert "```\nls -la data\n```" in text
    assert "shows 100 lines" in text


def test_a_restricted_agent_sees_only_its_tools() -> None:
    text = prompt(tool_names=["open", "edit", "submit"])
    assert "scroll_down" not in text and "memory_write" not in text
    assert "`validate` scores" not in text
    assert "`submit` hands in" in text


def test_the_window_and_data_folder_follow_the_arguments() -> None:
    text = prompt(config=tools.ToolConfig(window=40), data_dir="/data")
    assert "shows 40 lines of a file at a time" in text
    assert "`/data/`" in text


def test_unknown_tools_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'grep_tool'"):
        prompt(tool_names=["open", "grep_tool"])


def test_the_task_message_carries_the_description_and_state() -> None:
    text = prompts.task_message(
        "Classify CIFAR-10 images.\n", cwd="/workspace", step=0, max_steps=50
    )
    assert "TASK DESCRIPTION:\nClassify CIFAR-10 images.\n" in text
    assert text.endswith(
        "(Current step: 0, remaining steps: 50)\n(Open file: n/a)\n(Current directory: /workspace)\nbash-$"
    )


def test_observations_end_with_the_state_line() -> None:
    text = prompts.observation_message("ok\n", cwd="/w", open_file="/w/a.py")
    assert text == "ok\n(Open file: /w/a.py)\n(Current directory: /w)\nbash-$"
    silent = prompts.observation_message("", cwd="/w", exit_code=0)
    assert silent.startswith("Your command ran successfully and produced no output.")
    failed = prompts.observation_message("", cwd="/w", exit_code=3)
    assert failed.startswith("Your command produced no output and exited with status 3.")
