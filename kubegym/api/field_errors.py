"""pydantic's validation errors retold for the person who wrote the run file.

`kubegym.api.documents` validates each document against its model and hands the
`ValidationError` here: each error becomes a field path, a plain message (our own
rules' text, "unknown field", "required field is missing", names and paths that break
their pattern) and, where one helps, a hint such as the field that was probably meant.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from kubegym.api import common, yaml_nodes

# Error types whose message gains the value that was given ("Input should be ... (got 'x')").
_SHOW_INPUT = (
    "greater_than_equal",
    "less_than_equal",
    "greater_than",
    "less_than",
    "literal_error",
)


@dataclass(frozen=True)
class FieldError:
    """One validation error, in the run file's words."""

    loc: yaml_nodes.Loc
    """The field path, below the document (our rules may point deeper than pydantic does)."""

    message: str
    """What is wrong."""

    hint: str | None = None
    """What to do instead, when there is a useful suggestion."""


def explain(
    exc: pydantic.ValidationError, model_cls: type[pydantic.BaseModel]
) -> Iterator[FieldError]:
    """Every error of `exc`, retold; `model_cls` is the model the document was checked against."""
    for error in exc.errors(include_url=False):
        yield _retell(error, model_cls)


def _retell(error: ErrorDetails, model_cls: type[pydantic.BaseModel]) -> FieldError:
    """One pydantic error as a field path, a message and a hint."""
    loc: yaml_nodes.Loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    kind = error["type"]
    message = error["msg"]
    hint: str | None = None
    if kind == "kubegym_rule":
        message = ctx["message"]
        if ctx.get("loc"):
            loc = (*loc, *ctx["loc"])
        elif ctx.get("field"):
            loc = (*loc, ctx["field"])
    elif kind == "extra_forbidden":
        message = "unknown field"
        hint = _unknown_field_hint(model_cls, loc)
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == common.DNS_LABEL_PATTERN:
        message = f"{error['input']!r} is not a valid name"
        hint = "use lowercase letters, digits and '-', starting and ending with a letter or digit"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == common.TASK_PATH_PATTERN:
        message = f"{error['input']!r} leaves its folder: a path here must be relative, without .."
        hint = "give the path relative to the task's folder (or the workspace)"
    elif (
        kind == "string_pattern_mismatch" and ctx.get("pattern") == common.POSITIVE_QUANTITY_PATTERN
    ):
        message = f"{error['input']!r} is not a positive quantity"
        hint = "give a quantity above zero, such as 2, 500m or 8Gi"
    elif kind.endswith(("_type", "_parsing")) or kind in _SHOW_INPUT:
        message = f"{message} (got {error['input']!r})"
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return FieldError(loc, message, hint)


def _unknown_field_hint(model_cls: type[pydantic.BaseModel], loc: yaml_nodes.Loc) -> str | None:
    """The known field closest to the unknown one at `loc`, or the list of known fields."""
    known = _known_fields(model_cls, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if known:
        return "known fields: " + ", ".join(known)
    return None


def _known_fields(model_cls: type[pydantic.BaseModel], loc: yaml_nodes.Loc) -> list[str]:
    """The camelCase field names of the model found at `loc` below `model_cls`."""
    current: Any = model_cls
    for part in loc:
        if isinstance(part, int):
            current = _unwrap(current, list)
            continue
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return []
        match = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if match is None:
            return []
        current = _unwrap(match.annotation, None)
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return sorted(f.alias or n for n, f in current.model_fields.items())
    return []


def _unwrap(annotation: Any, container: type | None) -> Any:
    """Strip Optional/Annotated (and one list level when `container` is list)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        elif container is not None and origin is container:
            annotation = typing.get_args(annotation)[0]
            container = None
        else:
            return annotation
