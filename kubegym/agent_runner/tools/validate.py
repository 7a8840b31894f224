"""The ``validate`` tool: score the current artifact and go on. The environment runs the scorer."""

from __future__ import annotations

from kubegym.agent_runner.tools import base

COMMAND = base.Command(
    name="validate",
    signature="validate",
    docstring=(
        "Scores your current submission artifact on held-out validation data and shows the "
        "metrics next to the baseline's; the task goes on. Use it often to measure progress. "
        "Do not run the evaluation yourself: only validate's scores count."
    ),
)


def evaluate(ctx: base.ToolContext, command: base.Command) -> base.ToolResult:
    """Hand ``validate`` or ``submit`` to the environment's scorer."""
    if ctx.evaluate is None:
        return base.ToolResult(
            f"Error: `{command.name}` is not available in this environment (no scorer is attached).",
            base.EXIT_FAILED,
            command.name,
        )
    return ctx.evaluate("submit" if command.name == "submit" else "validate")


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    return evaluate(ctx, COMMAND)
