"""MLGym-Bench's default agent's text: its templates and its command list, and their rendering.

The text below reproduces, for comparability with MLGym-Bench's published numbers, MLGym's
``configs/agents/default.yaml`` (the templates), the format-error message of its
``MLGymThoughtActionParser`` (``mlgym/agent/parsing.py``), its environment's answer to a
validate that scored (``mlgym/environment/env.py``) and its command list as
``ParseCommandDetailed`` renders the docstrings of ``tools/*.sh`` (the ``COMMANDS`` section of
its system message, as its trajectories record it), from github.com/facebookresearch/MLGym at
commit 9d40c1b. MLGym is Copyright (c) Meta Platforms, Inc. and affiliates, licensed under
CC BY-NC 4.0. Its wording, typos included ("moves the window down" for ``scroll_up``, "will
given"), is kept as it is: a corrected prompt would be a different agent.

Rendering follows MLGym's rules: ``str.format`` on the template, with the values inserted as
they are (a description holding braces is not formatted again). Called by
`kubegym.agent_runner.mlgym.agent`; the golden tests in ``tests/unit/agent_runner/mlgym/``
compare its output with MLGym's own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

SYSTEM = """\
SETTING: You are an autonomous Machine Learning Researcher, and you're working directly in the command line with a special interface.

The special interface consists of a file editor that shows you {WINDOW} lines of a file at a time.
In addition to typical bash commands, you can also use the following commands to help you navigate and edit files.

COMMANDS:
{command_docs}

Please note that THE EDIT and INSERT COMMANDS REQUIRES PROPER INDENTATION.
If you'd like to add the line '        print(x)' you must fully write that out, with all those spaces before the code! Indentation is important and code that is not indented correctly will fail and require fixing before it can be run.

RESPONSE FORMAT:
Your shell prompt is formatted as follows:
(Open file: <path>) <cwd> $

You need to format your output using two fields; discussion and command.
Your output should always include _one_ discussion and _one_ command field EXACTLY as in the following example:
DISCUSSION
First I'll start by using ls to see what files are in the current directory. Then maybe we can look at some relevant files to see what they look like.
```
ls -a
```

You should only include a *SINGLE* command in the command section and then wait for a response from the shell before continuing with more discussion and commands. Everything you include in the DISCUSSION section will be saved for future reference. Please do not include any DISCUSSION after your action.
If you'd like to issue two commands at once, PLEASE DO NOT DO THAT! Please instead first submit just the first command, and then after receiving a response you'll be able to issue the second command.
You're free to use any other bash commands you want (e.g. find, grep, cat, ls, cd) in addition to the special commands listed above.
However, the environment does NOT support interactive session commands (e.g. python, vim), so please do not invoke them.
Your goal is to achieve the best possible score, not just to submit your first working solution. Consider strategies like validating your answer using the `validate` command, manually spot-checking predictions, building custom validation sets and grading functions, and comparing different algorithms.
Once you have exhausted all possible solutions and cannot make progress, you can submit your final solution by using `submit` command.

IMPORTANT TIPS:
1. Always start by trying to understand the baseline script if available. This will give you an idea of one possible solution for the task and the baseline scores that you have to beat.

2. If you run a command and it doesn't work, try running a different command. A command that did not work once will not work the second time unless you modify it!

3. If you open a file and need to get to an area around a specific line that is not in the first {WINDOW} lines, don't just use the scroll_down command multiple times. Instead, use the goto <line_number> command. It's much quicker.

4. Always make sure to look at the currently open file and the current working directory (which appears right after the currently open file). The currently open file might be in a different directory than the working directory! Note that some commands, such as 'create', open files, so they might change the current  open file.

5. When editing files, it is easy to accidentally specify a wrong line number or to write code with incorrect indentation. Always check the code after you issue an edit to make sure that it reflects what you wanted to accomplish. If it didn't, issue another command to fix it.

6. You have a limited number of actions/steps you can take in the environment. The current step and remaining number of steps will given after every action. Use the remaining steps wisely. If you only have few remaining steps, it is better to submit a working solution then to keep trying.

7. Your each action should take less than {training_timeout} seconds to complete. If your action doesn't finish within the time limit, it will be interrupted.

8. Validating your solution often, will give you a good idea of your progress so far and you will be able to adapt your strategy. Do not run the evaluation file on your own, use the `validate` function instead. If you run evaluation file yourself, your results won't be logged."""

TASK = """\
We're currently solving the following task. Here's the task description:

TASK DESCRIPTION:
{description}

INSTRUCTIONS:
Now, you're going to train a model to improve performance on this task. Your terminal session has started and you're in the workspace root directory. You can use any bash commands or the special interface to help you. Edit all the file you need or create a new training script.
Remember, YOU CAN ONLY ENTER ONE COMMAND AT A TIME. You should always wait for feedback after every command.
When you're satisfied with all of the changes you have made, you can run your code. Your code should produce a valid submission artefact. Please follow the instructions in SUBMISSION FORMAT section above and adhere to the guidelines provided for generating submission artefacts. You can also look at the `evaluate.py` provided to you to see if you are following the correct format and naming scheme for your submission artefacts.

Note however that you cannot use any interactive session commands (e.g. python, vim) in this environment, but you can write scripts and run them. E.g. you can write a python script and then run it with `python <script_name>.py`.

NOTE ABOUT THE EDIT AND INSERT COMMANDs: Indentation really matters! When editing a file, make sure to insert appropriate indentation before each line!

(Current Step: {current_step}, Remaining Steps: {remaining_steps})
(Open file: {open_file})
(Current directory: {working_dir})
bash-$"""

NEXT_STEP = """\
{observation}
(Current Step: {current_step}, Remaining Steps: {remaining_steps})
(Open file: {open_file})
(Current directory: {working_dir})
bash-$"""

NEXT_STEP_NO_OUTPUT = """\
Your command ran successfully and did not produce any output.
(Current Step: {current_step}, Remaining Steps: {remaining_steps})
(Open file: {open_file})
(Current directory: {working_dir})
bash-$"""

DEMONSTRATION = """\
Here is a demonstration of how to correctly accomplish this task.
It is included to show you how to correctly use the interface.
You do not need to follow exactly what is done in the demonstration.
--- DEMONSTRATION ---
{demonstration}
--- END OF DEMONSTRATION ---
"""

FORMAT_ERROR = """\
Your output was not formatted correctly. Your commands were not executed.
You must always include one discussion and one command as part of your response.
Make sure you do not have multiple discussion/command tags.

Please make sure your output precisely matches the following format:
DISCUSSION
Discuss here with yourself about what you are planning and what you are going to do in this step.

```
command(s) that you're going to run
```
"""

COMMAND_DOCS = """\
open:
  docstring: opens the file at the given path in the editor. If line_number is provided, the window will be move to include that line
  signature: open "<path>" [<line_number>]
  arguments:
    - path (string) [required]: the path to the file to open
    - line_number (integer) [optional]: the line number to move the window to (if not provided, the window will start at the top of the file)

goto:
  docstring: moves the window to show <line_number>
  signature: goto <line_number>
  arguments:
    - line_number (integer) [required]: the line number to move the window to

scroll_down:
  docstring: moves the window down {WINDOW} lines
  signature: scroll_down

scroll_up:
  docstring: moves the window down {WINDOW} lines
  signature: scroll_up

create:
  docstring: creates and opens a new file with the given name
  signature: create <filename>
  arguments:
    - filename (string) [required]: the name of the file to create

search_dir:
  docstring: searches for search_term in all files in dir. If dir is not provided, searches in the current directory
  signature: search_dir <search_term> [<dir>]
  arguments:
    - search_term (string) [required]: the term to search for
    - dir (string) [optional]: the directory to search in (if not provided, searches in the current directory)

search_file:
  docstring: searches for search_term in file. If file is not provided, searches in the current open file
  signature: search_file <search_term> [<file>]
  arguments:
    - search_term (string) [required]: the term to search for
    - file (string) [optional]: the file to search in (if not provided, searches in the current open file)

find_file:
  docstring: finds all files with the given name in dir. If dir is not provided, searches in the current directory
  signature: find_file <file_name> [<dir>]
  arguments:
    - file_name (string) [required]: the name of the file to search for
    - dir (string) [optional]: the directory to search in (if not provided, searches in the current directory)

edit:
  docstring: replaces lines <start_line> through <end_line> (inclusive) with the given text in the open file. The replacement text is terminated by a line with only end_of_edit on it. All of the <replacement text> will be entered, so make sure your indentation is formatted properly. Python files will be checked for syntax errors after the edit. If the system detects a syntax error, the edit will not be executed. Simply try to edit the file again, but make sure to read the error message and modify the edit command you issue accordingly. Issuing the same command a second time will just lead to the same error message again.
  signature: edit <start_line>:<end_line>
<replacement_text>
end_of_edit
  arguments:
    - start_line (integer) [required]: the line number to start the edit at
    - end_line (integer) [required]: the line number to end the edit at (inclusive)
    - replacement_text (string) [required]: the text to replace the current selection with

insert:
  docstring: inserts the given text after the specified line number in the open file. The text to insert is terminated by a line with only end_of_insert on it. All of the <text_to_add> will be entered, so make sure your indentation is formatted properly. Python files will be checked for syntax errors after the insertion. If the system detects a syntax error, the insertion will not be executed. Simply try to insert again, but make sure to read the error message and modify the insert command you issue accordingly.
  signature: insert <line_number>
<text_to_add>
end_of_insert
  arguments:
    - line_number (integer) [required]: the line number after which to insert the text
    - text_to_add (string) [required]: the text to insert after the specified line

submit:
  docstring: submits your current code and terminates the session
  signature: submit

validate:
  docstring: validates your current submission file and returns the metrics on test set
  signature: validate

"""


VALIDATED = """\
Your code produced a valid submission artefact at {submission}.
Baseline Score: {baseline}
Evaluation Score: {metrics}"""
"""MLGym's answer to a validate that scored (``mlgym/environment/env.py``)."""

_STEP_LINE = "(Current Step: {current_step}, Remaining Steps: {remaining_steps})"


@dataclasses.dataclass(frozen=True)
class State:
    """The shell's state after a step, as MLGym's ``state`` command reports it, and the step count."""

    step: int
    """Steps taken so far (0 before the first)."""
    max_steps: int
    """The step limit."""
    cwd: str
    """The shell's working directory."""
    open_file: str | None = None
    """The editor's open file (absolute path); None shows as ``n/a``."""
    gpu_line: str | None = None
    """``configs/agents/default_gpu_info.yaml``'s GPU line, ``(GPU Count: …, GPU Model: …, Total
    memory per GPU: …)``, placed below the step line; None leaves it out (MLGym-Bench's default)."""


def command_docs(window: int, names: Collection[str] | None = None) -> str:
    """The ``COMMANDS`` section: MLGym's command list for an editor window of ``window`` lines.

    Args:
        window: the editor's window in lines.
        names: the commands to list, in MLGym's order whatever this order; all when None.
            A command MLGym does not have is not listed (its docs would not be MLGym's).
    """
    text = COMMAND_DOCS.format(WINDOW=window)
    if names is None:
        return text
    # Each command's entry starts at a line "<name>:" and ends with a blank line.
    entries = re.split(r"(?m)^(?=[a-z_]+:\n  docstring: )", text)
    kept = [entry for entry in entries if entry and entry.split(":", 1)[0] in names]
    return "".join(kept)


# The end of tip 8 that ``configs/agents/default_gpu_info.yaml``'s system template leaves out.
_RUN_NO_EVALUATION = (
    " Do not run the evaluation file on your own, use the `validate` function instead. If you "
    "run evaluation file yourself, your results won't be logged."
)


def system_message(
    *,
    window: int,
    training_timeout: float,
    gpu: bool = False,
    commands: Collection[str] | None = None,
) -> str:
    """The system message: the setting, the commands, the response format and the tips.

    Args:
        window: the editor's window in lines (MLGym's ``WINDOW``, 1,000).
        training_timeout: the task's limit in seconds for one command that trains.
        gpu: the GPU-info variant (``default_gpu_info.yaml``), whose tip 8 is shorter.
        commands: the commands to list (`command_docs`); all of MLGym's when None.
    """
    template = SYSTEM.replace(_RUN_NO_EVALUATION, "", 1) if gpu else SYSTEM
    return template.format(
        command_docs=command_docs(window, commands),
        WINDOW=window,
        training_timeout=_number(training_timeout),
    )


def task_message(description: str, state: State) -> str:
    """The first user message: the task's description, the instructions and the state lines."""
    return _with_gpu(TASK, state).format(description=description, **_state_values(state))


def next_step_message(output: str | None, state: State) -> str:
    """A step's output with the state lines; MLGym's no-output message when the output is blank."""
    if output is None or not output.strip():
        return _with_gpu(NEXT_STEP_NO_OUTPUT, state).format(**_state_values(state))
    return _with_gpu(NEXT_STEP, state).format(observation=output, **_state_values(state))


def validation_message(
    *, submission: str, baseline: Mapping[str, float] | None, metrics: Mapping[str, float]
) -> str:
    """What MLGym's environment answers a validate that scored (``_evaluate_with_error_handling``).

    The metrics are the validate's own (never a hidden test score); MLGym prints the dicts as
    Python does, with every digit.
    """
    shown = str(dict(baseline)) if baseline else "NA (no baseline was there)"
    return VALIDATED.format(submission=submission, baseline=shown, metrics=dict(metrics)).strip()


def demonstration_message(demonstration: str) -> str:
    """A demonstration wrapped as MLGym sends it (one user message before the task)."""
    return DEMONSTRATION.format(demonstration=demonstration)


def demonstration_text(history: Sequence[Mapping[str, Any]], agent: str = "primary_0") -> str:
    """A recorded MLGym trajectory's ``history`` as one demonstration, as MLGym makes it.

    MLGym keeps the entries of its agent (``primary_0``) and those naming none, drops the
    system message and joins the others' contents with newlines (``history_to_messages`` with
    ``is_demonstration=True``).
    """
    kept = [
        entry
        for entry in history
        if entry.get("agent", agent) == agent and entry.get("role") != "system"
    ]
    return "\n".join(str(entry.get("content") or "") for entry in kept)


def _state_values(state: State) -> dict[str, object]:
    return {
        "current_step": state.step,
        "remaining_steps": state.max_steps - state.step,
        "open_file": state.open_file or "n/a",
        "working_dir": state.cwd,
    }


def _with_gpu(template: str, state: State) -> str:
    """The template with the GPU line below the step line, when there is one.

    The line goes in as text, not as a template: braces in a GPU's name stay as they are.
    """
    if state.gpu_line is None:
        return template
    escaped = state.gpu_line.replace("{", "{{").replace("}", "}}")
    return template.replace(_STEP_LINE, f"{_STEP_LINE}\n{escaped}", 1)


def _number(value: float) -> str:
    """A number as MLGym's YAML gave it: ``1800``, not ``1800.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)
