"""The ``submit`` tool: score the current artifact on the test data and end the task."""

from __future__ import annotations

from kubegym.agent_runner.tools import base, validate

COMMAND = base.Command(
    name="submit",
    signature="submit",
    docstring=(
        "Submits your current submission artifact as your final answer and ENDS the task: it is "
        "scored on the hidden test data and you cannot change it afterwards. Submit once you "
        "have your best result, or when few steps are left."
    ),
)


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    return validate.evaluate(ctx, COMMAND)
