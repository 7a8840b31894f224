"""Just enough PromQL reading for the dashboard tests: the metric names a query reads.

Not a parser: it drops strings, label matchers, ranges and grouping clauses, then
takes every remaining identifier that is not a function call or a keyword.
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})
_LABEL_VALUES = re.compile(r"^label_values\(\s*([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*,\s*(\w+)\s*\)$")


def metric_names(expr: str) -> set[str]:
    """The metric (or recorded series) names ``expr`` selects."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {m for m in _IDENTIFIER.findall(text) if m.lower() not in _KEYWORDS}


def label_values(query: str) -> tuple[str, str, str]:
    """``label_values(metric{selector}, label)`` → (metric, selector or "", label)."""
    found = _LABEL_VALUES.match(query.strip())
    if found is None:
        raise ValueError(f"not a label_values(metric{{…}}, label) query: {query}")
    return found.group(1), found.group(2) or "", found.group(3)
