"""Run files: several YAML documents (Tasks and BenchmarkRuns) read and checked as one.

`kubegym validate`, `kubegym run` and the tests read run files through here.
Every problem is reported with its file, line, object and field path, so a
malformed run file gives one clear line per mistake and never a traceback.
The walks over the YAML nodes are in `kubegym.api.yaml_nodes`; pydantic's errors
are retold in `kubegym.api.field_errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from kubegym.api import common, field_errors, runs, tasks, yaml_nodes
from kubegym.errors import ConfigError

# The kinds a run file may hold; Trials are made by kubegym, never written by hand.
KINDS: dict[str, type[common.Model]] = {"Task": tasks.Task, "BenchmarkRun": runs.BenchmarkRun}

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
    """Parse a run file, collecting every problem instead of stopping at the first.

    The YAML is composed into nodes first (`_compose`), so that each problem can name
    its line; each document is then checked on its own (`_check_document`), and one that
    passes is kept unless an earlier document of its kind has its name (`_name_taken`).
    """
    run_file = RunFile()
    nodes, problems = _compose(text, source)
    seen: dict[tuple[str, str], int] = {}
    for node in nodes:
        document, found = _check_document(node, source)
        problems.extend(found)
        if document is None:
            continue
        taken = _name_taken(document, source, seen)
        if taken is not None:
            problems.append(taken)
        elif isinstance(document.model, tasks.Task):
            run_file.tasks.append(document.model)
        elif isinstance(document.model, runs.BenchmarkRun):
            run_file.runs.append(document.model)
    return run_file, problems


@dataclass(frozen=True)
class _Document:
    """A document that passed its own checks, with what the file-wide checks need of it."""

    model: common.Model
    """The Task or BenchmarkRun it describes."""

    kind: str
    """One of `KINDS`."""

    name: str | None
    """`metadata.name`, as written (None when the document gives none)."""

    node: yaml.Node
    """Its YAML, to find lines in."""

    obj: str
    """`Kind/name`, for messages."""


def _compose(text: str, source: str) -> tuple[list[yaml.Node], list[Problem]]:
    """The file's non-empty document nodes, or the one problem that stops the file being read.

    A file that is not YAML, or holds no document at all, gives no nodes and one problem.
    """
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        return [], [Problem(source, f"not valid YAML: {reason}", line=line)]
    documents = [node for node in nodes if node is not None]
    if not documents:
        return [], [
            Problem(
                source,
                "the file holds no Task or BenchmarkRun: it is empty",
                line=1,
                hint="a run file holds YAML documents of kind Task or BenchmarkRun",
            )
        ]
    return documents, []


def _check_document(node: yaml.Node, source: str) -> tuple[_Document | None, list[Problem]]:
    """One document checked on its own: readable data, a known kind and apiVersion, a valid model.

    Returns the document, or None and its problems (none for a document that is only `null`).
    Each stage stops at the first that fails, since later ones would only repeat its cause.
    """
    data, problems = _read_document(node, source)
    if data is None:
        return None, problems
    kind: Any = data.get("kind")  # checked against KINDS by `_header_problem`
    name = (
        (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
    )
    obj = f"{kind}/{name}" if kind and name else str(kind or "")
    header = _header_problem(data, node, source, obj)
    if header is not None:
        return None, [header]
    model_cls = KINDS[kind]
    try:
        model = model_cls.model_validate(data)
    except pydantic.ValidationError as exc:
        return None, [
            Problem(
                source,
                error.message,
                field=_path(error.loc),
                line=yaml_nodes.line_of(node, error.loc),
                obj=obj,
                hint=error.hint,
            )
            for error in field_errors.explain(exc, model_cls)
        ]
    return _Document(model, kind, name, node, obj), []


def _read_document(node: yaml.Node, source: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A document's data as a mapping, or None and what YAML alone gets wrong in it.

    Keys given twice (YAML would keep the last one silently), NaN or infinities, and a
    document that is not a mapping are problems; a document that is only `null` is skipped.
    """
    repeated = list(yaml_nodes.duplicate_keys(node, ()))
    if repeated:
        obj = yaml_nodes.object_of(node)
        return None, [
            Problem(
                source,
                f"the key {loc[-1]!r} appears twice (first at line {first}); "
                "YAML would silently keep only the last",
                field=_path(loc),
                line=line,
                obj=obj,
            )
            for loc, line, first in repeated
        ]
    data = yaml_nodes.construct(node)
    if data is None:
        return None, []
    not_finite = next(yaml_nodes.not_finite(data, ()), None)
    if not_finite is not None:
        loc, value = not_finite
        problem = Problem(
            source,
            f"{value!r} is not a finite number",
            field=_path(loc),
            line=yaml_nodes.line_of(node, loc),
            obj=yaml_nodes.object_of(node),
        )
        return None, [problem]
    if not isinstance(data, dict):
        problem = Problem(
            source,
            "a document must be a mapping with apiVersion, kind, metadata and spec",
            line=node.start_mark.line + 1,
        )
        return None, [problem]
    return data, []


def _header_problem(data: dict[str, Any], node: yaml.Node, source: str, obj: str) -> Problem | None:
    """The problem with a document's kind (not one a run file holds) or apiVersion, if any."""
    doc_line = node.start_mark.line + 1
    kind = data.get("kind")
    if kind not in KINDS:
        return Problem(
            source,
            f"unknown kind {kind!r}" if kind else "missing kind",
            field="kind",
            line=yaml_nodes.line_of(node, ("kind",)) or doc_line,
            hint=f"a run file holds {' and '.join(sorted(KINDS))} documents",
        )
    if data.get("apiVersion") != common.API_VERSION:
        return Problem(
            source,
            f"apiVersion must be {common.API_VERSION!r}, got {data.get('apiVersion')!r}",
            field="apiVersion",
            line=yaml_nodes.line_of(node, ("apiVersion",)) or doc_line,
            obj=obj,
        )
    return None


def _name_taken(
    document: _Document, source: str, seen: dict[tuple[str, str], int]
) -> Problem | None:
    """A problem when an earlier document of the same kind has this name; else note its line.

    `seen` maps (kind, name) to the line of the first document that used them.
    """
    if document.name is None:
        return None
    key = (document.kind, document.name)
    name_line = yaml_nodes.line_of(document.node, ("metadata", "name"))
    if key in seen:
        return Problem(
            source,
            f"a second {document.kind} named {document.name!r} (the first is at line {seen[key]})",
            field="metadata.name",
            line=name_line,
            obj=document.obj,
        )
    seen[key] = name_line or document.node.start_mark.line + 1
    return None


def _path(loc: yaml_nodes.Loc) -> str:
    """A field path as written in messages: `spec.agents[0].costLimitUsd`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
