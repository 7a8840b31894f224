"""A run file's YAML as composed nodes: where a field sits, and what plain parsing would hide.

`kubegym.api.documents` reads each document as a node tree before building it, so
that every problem can name its line; the walks over those trees live here: the line
of a field path, keys given twice, NaN and infinities, and a document's `Kind/name`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import yaml

Loc = tuple[str | int, ...]
"""A field path: mapping keys and list indexes, outermost first (pydantic's `loc`)."""


def duplicate_keys(node: yaml.Node, loc: Loc) -> Iterator[tuple[Loc, int, int]]:
    """Every key that appears twice in one mapping: (its field path, its line, the first's line)."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and name != "<<":
                if name in first:
                    yield (*loc, name), line, first[name]
                else:
                    first[name] = line
            yield from duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from duplicate_keys(item, (*loc, index))


def not_finite(data: Any, loc: Loc) -> Iterator[tuple[Loc, float]]:
    """Every NaN or infinity (YAML's .nan, .inf): no field of a run file means them."""
    if isinstance(data, float) and not math.isfinite(data):
        yield loc, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from not_finite(value, (*loc, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from not_finite(value, (*loc, index))


def object_of(node: yaml.Node) -> str:
    """`Kind/name` of a document node, read off the YAML without constructing it."""
    if not isinstance(node, yaml.MappingNode):
        return ""
    values = {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    kind = values.get("kind")
    meta = values.get("metadata")
    name = None
    if isinstance(meta, yaml.MappingNode):
        name = next((v for k, v in meta.value if k.value == "name"), None)
    kind_text = kind.value if isinstance(kind, yaml.ScalarNode) else ""
    if kind_text and isinstance(name, yaml.ScalarNode):
        return f"{kind_text}/{name.value}"
    return str(kind_text)


def construct(node: yaml.Node) -> Any:
    """The Python data of one composed document, built the way `yaml.safe_load` builds it."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def line_of(node: yaml.Node, loc: Loc) -> int | None:
    """The line of the deepest YAML node along `loc` (the parent's, for a missing field)."""
    current = node
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            for key, value in current.value:
                if key.value == part:
                    line = key.start_mark.line + 1
                    current = value
                    break
            else:
                return line
        elif (
            isinstance(current, yaml.SequenceNode)
            and isinstance(part, int)
            and part < len(current.value)
        ):
            current = current.value[part]
            line = current.start_mark.line + 1
        else:
            return line
    return line
