"""Just enough Dockerfile reading: instructions, stages, the files a build COPYs.

`kubegym.images` hashes what each Dockerfile copies from its context (`copied`) to
decide whether an image must be rebuilt; ``tests/unit/images`` checks the Dockerfiles
with the same reader. Follows the Dockerfile reference: parser directives and comments,
``\\`` line continuations, JSON (exec) or shell forms, flags such as ``--from=``.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

KEYWORDS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), its arguments' text, its first line."""

    keyword: str
    arguments: str
    line: int

    def words(self) -> list[str]:
        """The arguments as words: a JSON array's items, or shell-like words."""
        text = self.arguments.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                pass
            else:
                return [str(v) for v in value]
        return shlex.split(text)

    def flags(self) -> dict[str, str]:
        """``--name=value`` flags, such as COPY's ``from`` or ``chown``."""
        pairs = (w[2:].partition("=") for w in self.words() if w.startswith("--") and "=" in w)
        return {name: value for name, _, value in pairs}

    def operands(self) -> list[str]:
        """The words that are not flags."""
        return [w for w in self.words() if not w.startswith("--")]


@dataclass
class Stage:
    """A FROM and the instructions under it."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    """A parsed Dockerfile."""

    path: Path
    instructions: list[Instruction]

    @property
    def global_args(self) -> dict[str, str | None]:
        """The ARGs before the first FROM, with their defaults."""
        found: dict[str, str | None] = {}
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                break
            if instruction.keyword == "ARG":
                name, _, default = instruction.arguments.strip().partition("=")
                found[name] = default or None
        return found

    @property
    def stages(self) -> list[Stage]:
        stages: list[Stage] = []
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                words = [w for w in instruction.words() if not w.startswith("--")]
                name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
                stages.append(Stage(words[0], name))
            elif stages:
                stages[-1].instructions.append(instruction)
        return stages


_DIRECTIVE = re.compile(r"^#\s*(syntax|escape|check)\s*=", re.IGNORECASE)


def parse(path: Path) -> Dockerfile:
    """The instructions of the Dockerfile at ``path``.

    Raises:
        ValueError: a line that is not an instruction (with the line number).
    """
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction is dropped
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        text = " ".join(p.strip() for p in pending if p.strip())
        pending = []
        keyword, _, arguments = text.partition(" ")
        if keyword.upper() not in KEYWORDS:
            raise ValueError(f"{path}:{start}: {keyword!r} is not a Dockerfile instruction")
        instructions.append(Instruction(keyword.upper(), arguments, start))
    if pending:
        raise ValueError(f"{path}: the last instruction ends with a line continuation")
    return Dockerfile(path, instructions)


def is_directive(line: str) -> bool:
    return bool(_DIRECTIVE.match(line))


def copied(dockerfile: Dockerfile) -> list[str]:
    """The context paths every COPY or ADD takes from the build context, in order.

    A ``COPY --from=<stage>`` copies from another stage, not the context: left out.
    """
    sources: list[str] = []
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword in ("COPY", "ADD") and "from" not in instruction.flags():
                sources += instruction.operands()[:-1]
    return sources
