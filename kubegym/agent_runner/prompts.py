"""The text the model reads besides tool output: the system prompt, the task message, the state line.

Built from explicit arguments (the task's description, limits and submission path, the agent's
tools) by `kubegym.agent_runner.env.ResearchEnv` at reset and after every step. The command list comes from
the tools' own definitions (`kubegym.agent_runner.tools.tool_docs`), so it cannot drift from them.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubegym.agent_runner import parsing, tools


def system_prompt(
    *,
    submission_path: str,
    command_timeout: float,
    max_steps: int,
    tool_names: Sequence[str] | None = None,
    config: tools.ToolConfig | None = None,
    data_dir: str = "data",
) -> str:
    """The system prompt: the setting, the command list, the reply format and the rules.

    Args:
        submission_path: where the artifact must be written, relative to the workspace.
        command_timeout: seconds one command may run before it is killed.
        max_steps: how many replies (steps) the agent has.
        tool_names: the agent's tools; every tool when None.
        config: the tools' settings (window size); the defaults when None.
        data_dir: where the task's data lies, relative to the workspace.

    Raises:
        kubegym.errors.ConfigError: ``tool_names`` names an unknown tool.
    """
    config = config or tools.ToolConfig()
    enabled = {tool.name for tool in tools.select_tools(tool_names)}
    docs = tools.tool_docs(tool_names, window=config.window)
    rules = [
        "Send ONE command per reply, then wait for its output. Two commands in one reply are "
        "not run.",
        "Interactive programs do not work here (vim, nano, less, top, a bare `python`): write "
        "scripts and run them, such as `python train.py`.",
        f"A command may run for at most {command_timeout:g} seconds; then it is killed. Keep "
        "training runs short enough, or run them in the background with output in a log file "
        "and check on it.",
        f"You have {max_steps} steps in all; the remaining count is shown after every command.",
        f"Your result must be written to `{submission_path}` in the workspace; it is scored "
        "from there.",
        f"The task's data is in `{data_dir}/` in the workspace; it is read-only.",
        "Indentation matters in edit and insert: write every line exactly as it must appear.",
        "A command that failed will fail again unchanged: read the error and change something.",
    ]
    if "validate" in enabled:
        rules.append(
            "`validate` scores your current submission and the task goes on: use it often. "
            "Do not run an evaluation yourself; only validate's scores count."
        )
    if "submit" in enabled:
        rules.append(
            "`submit` hands in your final submission and ENDS the task. Aim for the best score, "
            "not the first working one, but submit before you run out of steps."
        )
    if "memory_write" in enabled:
        rules.append(
            "Older outputs drop out of your history: save findings worth keeping (scores, "
            "settings that worked) with `memory_write` and read them with `memory_read`."
        )
    numbered = "\n".join(f"{number}. {rule}" for number, rule in enumerate(rules, start=1))
    return f"""\
SETTING: You are an autonomous machine-learning researcher working in a terminal with a \
special interface. Besides ordinary bash commands (ls, cat, grep, python script.py…), you \
have a file editor that shows {config.window} lines of a file at a time, and the commands below.

COMMANDS:
{docs}

RESPONSE FORMAT:
Each reply is a short discussion of what you are doing and why, followed by exactly one \
command in a code block:

{parsing.EXAMPLE}

After each command you see its output, then a state line with the open file and the current \
folder.

RULES:
{numbered}"""


def state_line(
    *,
    cwd: str,
    open_file: str | None = None,
    step: int | None = None,
    max_steps: int | None = None,
) -> str:
    """The line after every observation: steps left, the open file, the current folder."""
    parts = []
    if step is not None and max_steps is not None:
        parts.append(f"(Current step: {step}, remaining steps: {max(max_steps - step, 0)})")
    parts.append(f"(Open file: {open_file or 'n/a'})")
    parts.append(f"(Current directory: {cwd})")
    return "\n".join([*parts, "bash-$"])


def task_message(
    description: str,
    *,
    cwd: str,
    open_file: str | None = None,
    step: int | None = None,
    max_steps: int | None = None,
) -> str:
    """The first user message: the task's description, how to proceed, and the state line."""
    return f"""\
We are solving the following task.

TASK DESCRIPTION:
{description.strip()}

INSTRUCTIONS:
Your terminal session has started in the workspace. Read the starter code and any baseline \
first: it shows one way to solve the task and the score to beat. Then improve on it, write \
your submission, validate it, and keep improving. One command per reply.

{state_line(cwd=cwd, open_file=open_file, step=step, max_steps=max_steps)}"""


def observation_message(
    output: str,
    *,
    cwd: str,
    exit_code: int | None = None,
    open_file: str | None = None,
    step: int | None = None,
    max_steps: int | None = None,
) -> str:
    """A command's output as the model sees it, with the state line; says so when it was silent."""
    shown = output.rstrip()
    if not shown:
        shown = (
            f"Your command produced no output and exited with status {exit_code}."
            if exit_code
            else "Your command ran successfully and produced no output."
        )
    state = state_line(cwd=cwd, open_file=open_file, step=step, max_steps=max_steps)
    return f"{shown}\n{state}"
