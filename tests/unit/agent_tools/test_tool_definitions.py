"""Tool definitions are prompt text, checked at import; the docs and schemas come from them."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pydantic
import pytest

from kubegym import _registry
from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import base
from kubegym.errors import ConfigError


def arg(name: str, **fields: object) -> base.Argument:
    return base.Argument(name=name, description="something", **fields)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"signature": "cmd <a> <a>", "arguments": (arg("a"), arg("a"))},
            "duplicate argument names",
        ),
        (
            {"signature": "cmd [<a>] <b>", "arguments": (arg("a", required=False), arg("b"))},
            "required argument 'b' follows an optional one",
        ),
        ({"signature": "cmd <a>", "arguments": (arg("a"), arg("b"))}, "the signature names ['a']"),
        ({"signature": "cmd <b> <a>", "arguments": (arg("a"), arg("b"))}, "same names, same order"),
        ({"signature": "cmd <a>", "arguments": (arg("a", required=False),)}, "'a' is optional"),
        ({"signature": "cmd [<a>]", "arguments": (arg("a"),)}, "'a' is required"),
        (
            {"signature": "other <a>", "arguments": (arg("a"),)},
            "must start with the command's name",
        ),
        ({"signature": "cmd\n<t>\nend", "arguments": (arg("t", block=True),)}, "needs end_name"),
        (
            {
                "signature": "cmd\n<t>\nstop",
                "arguments": (arg("t", block=True),),
                "end_name": "end",
            },
            "last two lines",
        ),
        (
            {"signature": "cmd <a> <b>", "arguments": (arg("a", rest_of_line=True), arg("b"))},
            "rest-of-line argument must be the only one",
        ),
        ({"name": "Cmd", "signature": "Cmd"}, "command name 'Cmd'"),
        ({"signature": "cmd", "docstring": ""}, "at least 1 character"),
    ],
)
def test_a_bad_definition_is_refused(fields: dict[str, object], problem: str) -> None:
    definition: dict[str, object] = {"name": "cmd", "docstring": "Does things."} | fields
    with pytest.raises(pydantic.ValidationError, match=re.escape(problem)):
        base.Command(**definition)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"name": "class"}, "not a Python identifier"),
        ({"name": "n", "type": "integer", "block": True}, "is a string"),
        ({"name": "n", "block": True, "rest_of_line": True}, "not both"),
        ({"name": "n", "description": ""}, "at least 1 character"),
    ],
)
def test_a_bad_argument_is_refused(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(problem)):
        base.Argument(**({"description": "d"} | fields))


def test_a_bad_tool_module_fails_at_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad_tool.py").write_text(
        "from kubegym.agent_runner.tools import base\n"
        "COMMAND = base.Command(name='bad_tool', signature='bad_tool <a>', docstring='Bad.')\n"
        "@base.tool(COMMAND)\n"
        "def run(ctx, args):\n"
        "    raise AssertionError\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(pydantic.ValidationError, match="the signature names"):
        importlib.import_module("bad_tool")
    assert "bad_tool" not in tools.TOOLS


def test_every_tool_is_listed_in_order() -> None:
    assert set(tools.ORDER) == set(tools.TOOLS)
    assert [tool.name for tool in tools.select_tools()] == list(tools.ORDER)


def test_tool_docs_list_every_signature_and_argument() -> None:
    docs = tools.tool_docs()
    for name in tools.ORDER:
        command = tools.get_tool(name).command
        assert command.signature in docs
        assert command.docstring.split(".")[0].replace("{window}", "100") in docs
        for argument in command.arguments:
            assert f"<{argument.name}> ({argument.type}" in docs
    assert "{window}" not in docs
    assert "shows 100 lines" in docs
    assert "shows 40 lines" in tools.tool_docs(["open"], window=40)


def test_tool_docs_for_a_subset() -> None:
    docs = tools.tool_docs(["submit", "open"])
    assert docs.index("open <path>") < docs.index("submit")
    assert "edit <start_line>" not in docs


def test_unknown_tool_names_are_a_config_error_naming_them() -> None:
    with pytest.raises(ConfigError) as caught:
        tools.select_tools(["open", "opne", "vim"])
    assert "unknown tools: 'opne', 'vim'" in str(caught.value)
    assert caught.value.field == "spec.agents[].tools"
    with pytest.raises(ConfigError):
        tools.check_names(["search"])
    with pytest.raises(ConfigError, match="unknown tool: 'nope'"):
        tools.get_tool("nope")


def test_function_calling_schemas_share_the_docs_text() -> None:
    schemas = {
        schema["function"]["name"]: schema for schema in tools.tool_schemas(["open", "edit"])
    }
    assert set(schemas) == {"open", "edit", "bash"}
    open_ = schemas["open"]
    assert open_["type"] == "function"
    assert open_["function"]["description"].startswith("Opens the file at <path>")
    parameters = open_["function"]["parameters"]
    assert parameters["required"] == ["path"]
    assert parameters["properties"]["line_number"] == {
        "type": "integer",
        "description": "a line to bring into view (default: the top of the file)",
    }
    assert schemas["edit"]["function"]["parameters"]["required"] == [
        "start_line",
        "end_line",
        "replacement_text",
    ]


def test_the_registry_refuses_a_second_name() -> None:
    registry: _registry.Registry[int] = _registry.Registry("widget")
    registry.register("one")(1)
    assert registry.get("one") == 1 and "one" in registry and len(registry) == 1
    with pytest.raises(ValueError, match="already registered"):
        registry.add("one", 2)
    with pytest.raises(ConfigError, match="unknown widget: 'two'"):
        registry.get("two")


def test_tool_state_round_trips() -> None:
    state = tools.ToolState(open_file="/w/a.py", first_line=40, memory=["x"], scrolls_in_a_row=2)
    assert tools.ToolState.from_dict(state.to_dict()) == state
    assert tools.ToolState.from_dict({"open_file": None, "future_field": 1}) == tools.ToolState()
