"""Model replies: a discussion, then exactly one command in a fenced block."""

from __future__ import annotations

import pytest

from kubegym.agent_runner import parsing


def test_a_discussion_and_a_command() -> None:
    reply = "DISCUSSION\nLet me look at the files first.\n```\nls -a\n```\n"
    assert parsing.parse_reply(reply) == parsing.ParsedReply(
        thought="DISCUSSION\nLet me look at the files first.", action="ls -a"
    )


def test_a_language_tag_is_ignored() -> None:
    assert parsing.parse_reply("Run it.\n```bash\npython train.py\n```").action == "python train.py"


def test_a_multi_line_edit_keeps_its_indentation() -> None:
    reply = "Fix the loop.\n```\nedit 3:4\n    for x in xs:\n        f(x)\nend_of_edit\n```"
    assert (
        parsing.parse_reply(reply).action == "edit 3:4\n    for x in xs:\n        f(x)\nend_of_edit"
    )


def test_a_nested_fence_inside_the_command() -> None:
    reply = (
        "Write the README.\n"
        "```\n"
        "insert 0\n"
        "Usage:\n"
        "```bash\n"
        "python train.py\n"
        "```\n"
        "end_of_insert\n"
        "```\n"
    )
    action = parsing.parse_reply(reply).action
    assert action.startswith("insert 0\nUsage:\n```bash\n")
    assert action.endswith("```\nend_of_insert")


def test_a_one_line_block() -> None:
    assert parsing.parse_reply("Look.\n```ls -la```").action == "ls -la"


def test_text_after_the_block_is_part_of_the_thought() -> None:
    parsed = parsing.parse_reply("Before.\n```\nls\n```\nAfter.")
    assert parsed.thought == "Before.\nAfter."


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("I will run ls now.", "no_block"),
        ("", "no_block"),
        ("First\n```\nls\n```\nthen\n```\npwd\n```", "many_blocks"),
        ("Nothing to run.\n```\n\n```", "empty_block"),
        ("Nothing.\n```bash\n   \n```", "empty_block"),
        ("Cut off:\n```\nedit 1:2\nx = 1\n", "unclosed_block"),
    ],
)
def test_a_malformed_reply_is_a_format_error(reply: str, problem: str) -> None:
    with pytest.raises(parsing.FormatError) as caught:
        parsing.parse_reply(reply)
    assert caught.value.problem == problem
    message = parsing.reask_message(caught.value)
    assert caught.value.message in message
    assert "nothing was run" in message
    assert "DISCUSSION" in message and "```" in message
