"""Run files: several YAML documents (Tasks and BenchmarkRuns) read and checked as one.

`kubegym validate`, `kubegym run` and the tests read run files through here.
Every problem is reported with its file, line, object and field path, so a
malformed run file gives one clear line per mistake and never a traceback.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from kubegym.api import common, runs, tasks
from kubegym.errors import ConfigError

# The kinds a run file may hold; Trials are made by kubegym, never written by hand.
KINDS: dict[str, type[common.Model]] = {"Task": tasks.Task, "BenchmarkRun": runs.BenchmarkRun}

Loc = tuple[str | int, ...]

# Aliases: inside `RunFile` the field names `tasks` and `runs` hide the modules.
_Task = tasks.Task
_BenchmarkRun = runs.BenchmarkRun


@dataclass(frozen=True)
class Problem:
    """One mistake in a run file, located as precisely as the YAML allows."""

    source: str
    """The file name (or `<string>`)."""

    message: str
    """What is wrong."""

    field: str = ""
    """The field path in the document, such as `spec.agents[0].costLimitUsd`."""

    line: int | None = None
    """The 1-based line in the file."""

    obj: str = ""
    """The object, as `Kind/name`, when known."""

    hint: str | None = None
    """What to do instead, when there is a useful suggestion."""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        parts = [where]
        if self.obj:
            parts.append(self.obj)
        if self.field:
            parts.append(self.field)
        text = ": ".join([*parts, self.message])
        return f"{text} (hint: {self.hint})" if self.hint else text


class RunFileError(ConfigError):
    """A run file has one or more problems; `problems` lists them all."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the run file:\n{lines}")


@dataclass
class RunFile:
    """The objects of one run file, in the order they appeared."""

    tasks: list[_Task] = field(default_factory=list)
    runs: list[_BenchmarkRun] = field(default_factory=list)

    def task(self, name: str) -> _Task | None:
        """The Task called `name` in this file, if any."""
        return next((t for t in self.tasks if t.name == name), None)

    @property
    def run(self) -> _BenchmarkRun:
        """The file's single BenchmarkRun.

        Raises:
            ConfigError: when the file holds no BenchmarkRun, or several.
        """
        if len(self.runs) != 1:
            raise ConfigError(
                f"expected exactly one BenchmarkRun in the run file, found {len(self.runs)}",
                hint="put one `kind: BenchmarkRun` document in the file",
            )
        return self.runs[0]


def load_run_file(path: str | Path) -> RunFile:
    """Read and check a run file from disk.

    Raises:
        ConfigError: the file cannot be read.
        RunFileError: the file has problems; all of them are listed.
    """
    p = Path(path)
    text, problems = read_text(p)
    if text is None:
        raise RunFileError(problems)
    return parse_run_file(text, source=str(p))


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """A run file's text, or None and the reason it cannot be read (missing, not UTF-8).

    Raises:
        ConfigError: the file exists but cannot be read (permissions, a folder).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(str(path), "no such file")]
    except OSError as exc:
        raise ConfigError(f"cannot read run file {path}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        return None, [
            Problem(
                str(path),
                f"not UTF-8 text: byte 0x{byte} cannot be decoded",
                line=line,
                hint="save the file as UTF-8",
            )
        ]


def parse_run_file(text: str, source: str = "<string>") -> RunFile:
    """Parse and check the YAML text of a run file.

    Raises:
        RunFileError: the text has problems; all of them are listed.
    """
    run_file, problems = check_run_file(text, source)
    if problems:
        raise RunFileError(problems)
    return run_file


def check_run_file(text: str, source: str = "<string>") -> tuple[RunFile, list[Problem]]:
    """Parse a run file, collecting every problem instead of stopping at the first."""
    run_file = RunFile()
    problems: list[Problem] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        return run_file, [Problem(source, f"not valid YAML: {reason}", line=line)]

    if not any(node is not None for node in nodes):
        return run_file, [
            Problem(
                source,
                "the file holds no Task or BenchmarkRun: it is empty",
                line=1,
                hint="a run file holds YAML documents of kind Task or BenchmarkRun",
            )
        ]

    seen: dict[tuple[str, str], int] = {}
    for node in nodes:
        if node is None:
            continue
        doc_line = node.start_mark.line + 1
        repeated = list(_duplicate_keys(node, ()))
        if repeated:
            obj = _object_of(node)
            problems.extend(
                Problem(
                    source,
                    f"the key {loc[-1]!r} appears twice (first at line {first}); "
                    "YAML would silently keep only the last",
                    field=_path(loc),
                    line=line,
                    obj=obj,
                )
                for loc, line, first in repeated
            )
            continue
        data = _construct(node)
        if data is None:
            continue
        not_finite = next(_not_finite(data, ()), None)
        if not_finite is not None:
            problems.append(
                Problem(
                    source,
                    f"{not_finite[1]!r} is not a finite number",
                    field=_path(not_finite[0]),
                    line=_line(node, not_finite[0]),
                    obj=_object_of(node),
                )
            )
            continue
        if not isinstance(data, dict):
            problems.append(
                Problem(
                    source,
                    "a document must be a mapping with apiVersion, kind, metadata and spec",
                    line=doc_line,
                )
            )
            continue
        kind = data.get("kind")
        name = (
            (data.get("metadata") or {}).get("name")
            if isinstance(data.get("metadata"), dict)
            else None
        )
        obj = f"{kind}/{name}" if kind and name else str(kind or "")
        if kind not in KINDS:
            problems.append(
                Problem(
                    source,
                    f"unknown kind {kind!r}" if kind else "missing kind",
                    field="kind",
                    line=_line(node, ("kind",)) or doc_line,
                    hint=f"a run file holds {' and '.join(sorted(KINDS))} documents",
                )
            )
            continue
        if data.get("apiVersion") != common.API_VERSION:
            problems.append(
                Problem(
                    source,
                    f"apiVersion must be {common.API_VERSION!r}, got {data.get('apiVersion')!r}",
                    field="apiVersion",
                    line=_line(node, ("apiVersion",)) or doc_line,
                    obj=obj,
                )
            )
            continue
        model_cls = KINDS[kind]
        try:
            obj_model = model_cls.model_validate(data)
        except pydantic.ValidationError as exc:
            problems.extend(_problems_from(exc, model_cls, node, source, obj))
            continue
        if name is not None:
            key = (kind, name)
            if key in seen:
                problems.append(
                    Problem(
                        source,
                        f"a second {kind} named {name!r} (the first is at line {seen[key]})",
                        field="metadata.name",
                        line=_line(node, ("metadata", "name")),
                        obj=obj,
                    )
                )
                continue
            seen[key] = _line(node, ("metadata", "name")) or doc_line
        if isinstance(obj_model, tasks.Task):
            run_file.tasks.append(obj_model)
        elif isinstance(obj_model, runs.BenchmarkRun):
            run_file.runs.append(obj_model)
    return run_file, problems


def _duplicate_keys(node: yaml.Node, loc: Loc) -> Iterator[tuple[Loc, int, int]]:
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
            yield from _duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, index))


def _not_finite(data: Any, loc: Loc) -> Iterator[tuple[Loc, float]]:
    """Every NaN or infinity (YAML's .nan, .inf): no field of a run file means them."""
    if isinstance(data, float) and not math.isfinite(data):
        yield loc, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _not_finite(value, (*loc, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _not_finite(value, (*loc, index))


def _object_of(node: yaml.Node) -> str:
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


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _problems_from(
    exc: pydantic.ValidationError,
    model_cls: type[pydantic.BaseModel],
    node: yaml.Node,
    source: str,
    obj: str,
) -> Iterator[Problem]:
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
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
            known = _known_fields(model_cls, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            if close:
                hint = f"did you mean {close[0]!r}?"
            elif known:
                hint = "known fields: " + ", ".join(known)
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "string_pattern_mismatch" and ctx.get("pattern") == common.DNS_LABEL_PATTERN:
            message = f"{error['input']!r} is not a valid name"
            hint = (
                "use lowercase letters, digits and '-', starting and ending with a letter or digit"
            )
        elif kind == "string_pattern_mismatch" and ctx.get("pattern") == common.TASK_PATH_PATTERN:
            message = (
                f"{error['input']!r} leaves its folder: a path here must be relative, without .."
            )
            hint = "give the path relative to the task's folder (or the workspace)"
        elif (
            kind == "string_pattern_mismatch"
            and ctx.get("pattern") == common.POSITIVE_QUANTITY_PATTERN
        ):
            message = f"{error['input']!r} is not a positive quantity"
            hint = "give a quantity above zero, such as 2, 500m or 8Gi"
        elif kind.endswith(("_type", "_parsing")) or kind in (
            "greater_than_equal",
            "less_than_equal",
            "greater_than",
            "less_than",
            "literal_error",
        ):
            message = f"{message} (got {error['input']!r})"
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        yield Problem(source, message, field=_path(loc), line=_line(node, loc), obj=obj, hint=hint)


def _path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line(node: yaml.Node, loc: Loc) -> int | None:
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


def _known_fields(model_cls: type[pydantic.BaseModel], loc: Loc) -> list[str]:
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
