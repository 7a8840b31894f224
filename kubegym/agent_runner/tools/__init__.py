"""The agent's tools (MLGym's agent-computer interface), by name, and how to call them.

Each tool is one module here; its `base.Command` is the text the model reads, checked at
import. The environment builds one `ToolContext` per step around the trial's `ToolState` and
calls `run_action` with the command of each model reply; `kubegym.agent_runner.prompts` lists
the tools with `tool_docs`. Names are re-exported here because this is the package's surface.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Each tool module registers its tool when imported.
from kubegym.agent_runner.tools import (  # noqa: F401
    bash,
    create,
    edit,
    find_file,
    goto,
    insert,
    literature_search,
    memory_read,
    memory_write,
    open_file,
    scroll_down,
    scroll_up,
    search_dir,
    search_file,
    submit,
    validate,
)
from kubegym.agent_runner.tools.actions import ActionError, parse_action, run_action, run_call
from kubegym.agent_runner.tools.base import (
    TOOLS,
    Command,
    Guardrail,
    Tool,
    ToolConfig,
    ToolContext,
    ToolResult,
    ToolState,
)

__all__ = [
    "ORDER",
    "TOOLS",
    "ActionError",
    "Command",
    "Guardrail",
    "Tool",
    "ToolConfig",
    "ToolContext",
    "ToolResult",
    "ToolState",
    "check_names",
    "get_tool",
    "parse_action",
    "run_action",
    "run_call",
    "select_tools",
    "tool_docs",
    "tool_schemas",
]

ORDER = (
    "open",
    "goto",
    "scroll_up",
    "scroll_down",
    "create",
    "edit",
    "insert",
    "search_dir",
    "search_file",
    "find_file",
    "memory_write",
    "memory_read",
    "literature_search",
    "validate",
    "submit",
)
"""The order of the prompt's command list; tools registered elsewhere follow, by name."""


def get_tool(name: str) -> Tool:
    """The tool called ``name``.

    Raises:
        kubegym.errors.ConfigError: no such tool; the message lists the known ones.
    """
    return TOOLS.get(name)


def check_names(names: Iterable[str]) -> None:
    """Check an agent spec's tool names.

    Raises:
        kubegym.errors.ConfigError: unknown names, all of them named at once.
    """
    TOOLS.select(list(names))


def select_tools(names: Iterable[str] | None = None) -> list[Tool]:
    """The tools an agent spec names, in the prompt's order; all of them when ``names`` is None.

    Raises:
        kubegym.errors.ConfigError: unknown names, all of them named at once.
    """
    ordered = sorted(TOOLS.select(), key=lambda tool: _rank(tool.name))
    if names is None:
        return ordered
    wanted = set(names)
    check_names(sorted(wanted))
    return [tool for tool in ordered if tool.name in wanted]


def _rank(name: str) -> tuple[int, str]:
    return (ORDER.index(name), "") if name in ORDER else (len(ORDER), name)


def tool_docs(names: Iterable[str] | None = None, *, window: int = 100) -> str:
    """The command list of the system prompt, made from the tools' definitions.

    Args:
        names: the tools to list (an agent spec's ``tools``); every tool when None.
        window: the editor's window size, as the docstrings mention it.
    """
    return "\n\n".join(tool.command.doc(window) for tool in select_tools(names))


def tool_schemas(names: Iterable[str] | None = None, *, window: int = 100) -> list[dict[str, Any]]:
    """The same tools as function-calling schemas in OpenAI's format, plus ``bash`` for shell commands."""
    tools = [*select_tools(names), bash.TOOL]
    return [tool.command.function_schema(window) for tool in tools]
