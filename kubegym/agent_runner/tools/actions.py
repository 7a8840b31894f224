"""From the action text of a model reply to a tool call and its result.

`parse_action` reads the command the model wrote (the first word names a tool, anything else is
a shell command), checks its arguments against the tool's `base.Command`, and `run_action` runs
it. The environment calls `run_action` once per step; `run_call` is the same for a
function-calling model. Re-exported by `kubegym.agent_runner.tools`.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping
from typing import Any

from kubegym.agent_runner.tools import base, bash

_PLACEHOLDER = re.compile(r"<([^<>\s]*)>")
_INTEGER = re.compile(r"^[+-]?\d+$")
_SCROLLS = frozenset({"scroll_up", "scroll_down"})
# MLGym's environment turns away an edit whose text never says end_of_edit (its EDIT_PATTERN).
_MLGYM_EDIT = re.compile(r"^edit\s+(\d+):(\d+)(?:\n|$|\s)")
_MLGYM_MALFORMED_EDIT = (
    "Malformed edit command. Please ensure you use the `end_of_edit` keyword to mark the end of "
    "your edit."
)


class ActionError(Exception):
    """The action cannot run as written; ``result`` is the answer for the model."""

    def __init__(self, result: base.ToolResult) -> None:
        super().__init__(result.output)
        self.result = result


def parse_action(
    text: str, enabled: frozenset[str] | None = None
) -> tuple[base.Tool, base.Arguments]:
    """The tool an action calls, and its checked arguments.

    Args:
        text: the command from the model's reply (the inside of its code block).
        enabled: the tools the agent may use; every registered tool when None.

    Returns:
        The tool and its arguments; a shell command gives the ``bash`` tool with ``command``.

    Raises:
        ActionError: bad arguments (exit 2, usage shown), a disabled tool (exit 126), or an
            empty action; its ``result`` says what is wrong.
    """
    text = text.strip()
    if not text:
        raise ActionError(base.ToolResult("Error: the command is empty.", base.EXIT_USAGE, ""))
    head, _, body = text.partition("\n")
    name = head.split(maxsplit=1)[0]
    if name not in base.TOOLS:
        return bash.TOOL, base.Arguments({"command": text})
    tool = base.TOOLS[name]
    if enabled is not None and name not in enabled:
        message = f"Error: `{name}` is not available in this task. Available: {', '.join(sorted(enabled))}."
        raise ActionError(base.ToolResult(message, base.EXIT_BLOCKED, name))
    command = tool.command
    values = _parse_line(command, head[len(name) :])
    if command.end_name is not None:
        values[command.arguments[-1].name] = _parse_block(command, body)
    elif body.strip():
        _fail(
            command,
            f"`{name}` takes a single line, but more lines follow it. "
            "Send one command per reply; wait for its output before the next.",
        )
    return tool, base.Arguments(_typed(command, values))


def run_action(text: str, ctx: base.ToolContext) -> base.ToolResult:
    """Parse and run one action; bad actions come back as results, never as exceptions.

    Errors of the sandbox itself (`kubegym.errors.InfraError`, lost connections) propagate:
    they are not the agent's failures.
    """
    if ctx.config.preset == "mlgym":
        action = text.strip()
        if _MLGYM_EDIT.match(action) and "end_of_edit" not in action:
            return base.ToolResult(_MLGYM_MALFORMED_EDIT, base.EXIT_USAGE, "edit")
    try:
        tool, args = parse_action(text, ctx.enabled)
    except ActionError as error:
        return error.result
    return _run(tool, args, ctx)


def run_call(name: str, arguments: Mapping[str, Any], ctx: base.ToolContext) -> base.ToolResult:
    """Run a function call (a function-calling model's form of an action): same checks, same tools."""
    if name == bash.COMMAND.name:
        tool = bash.TOOL
    elif name in base.TOOLS and (ctx.enabled is None or name in ctx.enabled):
        tool = base.TOOLS[name]
    else:
        return base.ToolResult(f"Error: there is no tool called `{name}`.", base.EXIT_USAGE, name)
    command = tool.command
    unknown = sorted(set(arguments) - {argument.name for argument in command.arguments})
    if unknown:
        return base.usage_error(command, f"unknown arguments {unknown}.")
    values: dict[str, str | None] = {}
    for argument in command.arguments:
        value = arguments.get(argument.name)
        if value is None:
            values[argument.name] = None
        elif isinstance(value, bool) or not isinstance(value, str | int):
            return base.usage_error(command, f"<{argument.name}> must be a {argument.type}.")
        else:
            values[argument.name] = str(value)
    try:
        typed = _typed(command, values)
    except ActionError as error:
        return error.result
    return _run(tool, base.Arguments(typed), ctx)


def _run(tool: base.Tool, args: base.Arguments, ctx: base.ToolContext) -> base.ToolResult:
    if tool.name not in _SCROLLS:
        ctx.state.scrolls_in_a_row = 0
    result = tool.run(ctx, args)
    return dataclasses.replace(result, tool=tool.name)


def _fail(command: base.Command, message: str) -> None:
    raise ActionError(base.usage_error(command, message))


def _parse_line(command: base.Command, rest: str) -> dict[str, str | None]:
    """The first line's arguments, matched against the signature's first line."""
    inline = [argument for argument in command.arguments if not argument.block]
    values: dict[str, str | None] = {}
    if inline and inline[0].rest_of_line:
        raw = rest.strip()
        try:
            words = shlex.split(raw)
        except ValueError:
            words = []
        values[inline[0].name] = words[0] if len(words) == 1 else raw
        return values
    try:
        words = shlex.split(rest)
    except ValueError:
        _fail(command, "a quote is not closed.")
    for token in command.signature.split("\n")[0].split()[1:]:
        names = _PLACEHOLDER.findall(token)
        if not words:
            if token.startswith("["):
                values.update(dict.fromkeys(names))
                continue
            _fail(command, f"missing {token}.")
        word = words.pop(0)
        match = _template(token.strip("[]")).fullmatch(word)
        if match is None:
            _fail(command, f"expected {token.strip('[]')}, got {word!r}.")
        else:
            values.update(match.groupdict())
    if words:
        _fail(command, f"too many arguments ({' '.join(words)}). Quote values that contain spaces.")
    return values


def _template(token: str) -> re.Pattern[str]:
    """A token of a signature (``<start_line>:<end_line>``) as a regular expression."""
    parts = _PLACEHOLDER.split(token)
    pattern = "".join(
        f"(?P<{part}>.+?)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(pattern)


def _parse_block(command: base.Command, body: str) -> str:
    """The block argument: the lines up to the end line (or to the end, when it was forgotten)."""
    lines = body.split("\n") if body else []
    ends = [index for index, line in enumerate(lines) if line.strip() == command.end_name]
    if ends:
        after = lines[ends[0] + 1 :]
        if any(line.strip() for line in after):
            _fail(
                command,
                f"there is text after {command.end_name}. Send one command per reply; "
                "wait for its output before the next.",
            )
        lines = lines[: ends[0]]
    return "\n".join(lines) + "\n" if lines else ""


def _typed(command: base.Command, values: Mapping[str, str | None]) -> dict[str, str | int | None]:
    """The values with integers converted; a missing required argument is an error."""
    typed: dict[str, str | int | None] = {}
    for argument in command.arguments:
        value = values.get(argument.name)
        if value is None or (value == "" and not argument.block):
            if argument.required:
                _fail(command, f"missing <{argument.name}>.")
            typed[argument.name] = None
        elif argument.type == "integer":
            if not _INTEGER.match(value.strip()):
                _fail(command, f"<{argument.name}> must be a whole number, got {value!r}.")
            typed[argument.name] = int(value)
        else:
            typed[argument.name] = value
    return typed
