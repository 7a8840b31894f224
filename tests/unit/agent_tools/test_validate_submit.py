"""``validate`` and ``submit``: declared here, scored by the environment's callback."""

from __future__ import annotations

from typing import Literal

from kubegym.agent_runner import tools
from tests.unit.agent_tools.conftest import MakeCtx


def test_validate_and_submit_call_the_environment(make_ctx: MakeCtx) -> None:
    calls: list[str] = []

    def evaluate(kind: Literal["validate", "submit"]) -> tools.ToolResult:
        calls.append(kind)
        return tools.ToolResult(f"{kind}: accuracy 0.93 (baseline 0.90)", 0, kind)

    ctx = make_ctx(evaluate=evaluate)
    result = tools.run_action("validate", ctx)
    assert (result.output, result.exit_code, result.tool) == (
        "validate: accuracy 0.93 (baseline 0.90)",
        0,
        "validate",
    )
    assert tools.run_action("submit", ctx).tool == "submit"
    assert calls == ["validate", "submit"]


def test_a_failed_scoring_keeps_its_exit_code(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(evaluate=lambda kind: tools.ToolResult("no submission.csv found", 1, kind))
    result = tools.run_action("validate", ctx)
    assert result.exit_code == 1 and "no submission.csv" in result.output


def test_without_a_scorer_they_fail_plainly(ctx: tools.ToolContext) -> None:
    for name in ("validate", "submit"):
        result = tools.run_action(name, ctx)
        assert result.exit_code == 1
        assert "not available" in result.output


def test_they_take_no_arguments(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(evaluate=lambda kind: tools.ToolResult("ok", 0, kind))
    result = tools.run_action("submit submission.csv", ctx)
    assert result.exit_code == 2
    assert "Usage: submit" in result.output
