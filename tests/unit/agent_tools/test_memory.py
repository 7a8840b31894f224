"""``memory_write`` and ``memory_read``: notes kept in the tool state for the whole trial."""

from __future__ import annotations

from kubegym.agent_runner import tools


def test_notes_are_kept_in_order(ctx: tools.ToolContext) -> None:
    assert tools.run_action("memory_read", ctx).output.startswith("Memory is empty.")
    result = tools.run_action("memory_write best lr so far is 3e-4 (val acc 0.91)", ctx)
    assert result.exit_code == 0 and result.output == "Saved note 1 to memory."
    tools.run_action('memory_write "batch size 256 runs out of memory"', ctx)
    assert ctx.state.memory == [
        "best lr so far is 3e-4 (val acc 0.91)",
        "batch size 256 runs out of memory",
    ]
    result = tools.run_action("memory_read", ctx)
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "2 notes in memory:",
        "1. best lr so far is 3e-4 (val acc 0.91)",
        "2. batch size 256 runs out of memory",
    ]


def test_an_empty_note_is_refused(ctx: tools.ToolContext) -> None:
    result = tools.run_action("memory_write", ctx)
    assert result.exit_code == 2
    assert "Usage: memory_write <text>" in result.output
    assert ctx.state.memory == []


def test_notes_survive_a_round_trip_through_the_trajectory(ctx: tools.ToolContext) -> None:
    tools.run_action("memory_write use AdamW", ctx)
    restored = tools.ToolState.from_dict(ctx.state.to_dict())
    assert restored == ctx.state
    assert restored.memory == ["use AdamW"]


def test_a_very_long_note_is_refused(ctx: tools.ToolContext) -> None:
    result = tools.run_action("memory_write " + "x" * 5000, ctx)
    assert result.exit_code == 2
    assert "keep it under" in result.output
