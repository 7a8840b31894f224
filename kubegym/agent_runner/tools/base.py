"""What every agent tool is made of: its checked definition, its context, state and result.

A tool module (``open_file.py``, ``edit.py``…) defines one `Command` (the text the model reads)
and registers a function with `tool`; `kubegym.agent_runner.tools` imports every tool module and
turns the action text of a model reply into a call. The environment owns one `ToolState` per
trial and builds a `ToolContext` around it for each step.
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pydantic

from kubegym import _registry
from kubegym.agent_runner.tools import lint
from kubegym.errors import ConfigError
from kubegym.sandbox import protocol

EXIT_OK = 0
"""The tool did what was asked."""

EXIT_FAILED = 1
"""The tool ran but the answer is negative: nothing matched, no such file, an edit rejected."""

EXIT_USAGE = 2
"""The action could not be understood: wrong or missing arguments. The usage line is shown."""

EXIT_BLOCKED = 126
"""The command was refused before it ran (an interactive program, a disabled tool)."""

EXIT_TIMEOUT = 124
"""The command ran past its timeout and was killed."""

_NAME = re.compile(r"^[a-z][a-z_]*$")
_PLACEHOLDER = re.compile(r"<([^<>\s]*)>")


class Argument(pydantic.BaseModel):
    """One argument of a command, as the model reads it in the command list."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str
    """Its name, as it appears between angle brackets in the signature."""

    type: Literal["string", "integer"] = "string"
    """What the value must be; integers are checked before the tool runs."""

    description: str = pydantic.Field(min_length=1)
    """What the argument means, in words for the model."""

    required: bool = True
    """Whether the model must give it; optional ones appear as ``[<name>]`` in the signature."""

    rest_of_line: bool = False
    """The argument takes the whole rest of the first line (quotes optional): free text."""

    block: bool = False
    """The argument is the lines after the first one, up to the command's ``end_name`` line."""

    @pydantic.field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"argument name {name!r} is not a Python identifier")
        return name

    @pydantic.model_validator(mode="after")
    def _one_shape(self) -> Argument:
        if (self.block or self.rest_of_line) and self.type != "string":
            raise ValueError(f"{self.name}: a block or rest-of-line argument is a string")
        if self.block and self.rest_of_line:
            raise ValueError(f"{self.name}: an argument is a block or rest of line, not both")
        return self


class Command(pydantic.BaseModel):
    """A command's definition: its signature, docstring and arguments, checked when built.

    The checks catch a definition that would mislead the model: duplicate argument names, a
    required argument after an optional one, a signature that does not name exactly the
    arguments (in order, optional ones in brackets), a block argument without its end line.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str
    """The word the model types; lower case and underscores (as agent specs name tools)."""

    signature: str
    """How to call it: ``open <path> [<line_number>]``; a block command adds two lines."""

    docstring: str = pydantic.Field(min_length=1)
    """What it does, for the model. ``{window}`` is replaced by the editor's window size."""

    arguments: tuple[Argument, ...] = ()
    """Its arguments, in the order of the signature."""

    end_name: str | None = None
    """For a block command: the line that ends the block (``end_of_edit``)."""

    @pydantic.model_validator(mode="after")
    def _check(self) -> Command:
        if not _NAME.match(self.name):
            raise ValueError(f"command name {self.name!r} must match {_NAME.pattern}")
        names = [argument.name for argument in self.arguments]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"{self.name}: duplicate argument names {duplicates}")
        seen_optional = False
        for argument in self.arguments:
            if argument.required and seen_optional:
                raise ValueError(
                    f"{self.name}: required argument {argument.name!r} follows an optional one"
                )
            seen_optional = seen_optional or not argument.required
        self._check_signature()
        return self

    def _check_signature(self) -> None:
        lines = self.signature.split("\n")
        head = lines[0].split()
        if not head or head[0] != self.name:
            raise ValueError(f"{self.name}: the signature must start with the command's name")
        blocks = [argument for argument in self.arguments if argument.block]
        inline = [argument for argument in self.arguments if not argument.block]
        if self.end_name is None:
            if blocks or len(lines) != 1:
                raise ValueError(
                    f"{self.name}: a block argument or a multi-line signature needs end_name"
                )
        else:
            if len(blocks) != 1 or self.arguments[-1] is not blocks[0] or not blocks[0].required:
                raise ValueError(
                    f"{self.name}: end_name needs exactly one block argument, the last and required"
                )
            if lines[1:] != [f"<{blocks[0].name}>", self.end_name]:
                raise ValueError(
                    f"{self.name}: a block signature's last two lines must be "
                    f"'<{blocks[0].name}>' and {self.end_name!r}"
                )
        placed = _PLACEHOLDER.findall(" ".join(head[1:]))
        if placed != [argument.name for argument in inline]:
            raise ValueError(
                f"{self.name}: the signature names {placed}, the arguments are "
                f"{[argument.name for argument in inline]} (same names, same order)"
            )
        for token in head[1:]:
            names = _PLACEHOLDER.findall(token)
            optional = token.startswith("[") and token.endswith("]")
            for name in names:
                argument = next(a for a in inline if a.name == name)
                if argument.required == optional:
                    state = "required" if argument.required else "optional"
                    raise ValueError(
                        f"{self.name}: {name!r} is {state} but written {token!r} in the signature"
                    )
        rest = [argument for argument in inline if argument.rest_of_line]
        if rest and inline != rest:
            raise ValueError(
                f"{self.name}: a rest-of-line argument must be the only one on the line"
            )

    @property
    def usage(self) -> str:
        """The signature's first line, for usage messages."""
        return "Usage: " + self.signature.split("\n")[0]

    def doc(self, window: int) -> str:
        """The command's entry in the prompt's command list."""
        text = self.docstring.replace("{window}", str(window))
        lines = [self.signature, _indent(text)]
        for argument in self.arguments:
            need = "required" if argument.required else "optional"
            lines.append(f"    <{argument.name}> ({argument.type}, {need}): {argument.description}")
        return "\n".join(lines)

    def function_schema(self, window: int) -> dict[str, Any]:
        """The command as a function-calling tool in OpenAI's format (same text as `doc`)."""
        properties = {
            argument.name: {"type": argument.type, "description": argument.description}
            for argument in self.arguments
        }
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.docstring.replace("{window}", str(window)),
                "parameters": {
                    "type": "object",
                    "properties": properties,
                    "required": [a.name for a in self.arguments if a.required],
                },
            },
        }


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.strip().splitlines())


@dataclasses.dataclass(frozen=True)
class ToolResult:
    """What a tool returns: an exit code and a short text written for the model."""

    output: str
    exit_code: int
    tool: str = ""
    """The tool that ran (``bash`` for a shell command); set by `run_action`."""

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


@dataclasses.dataclass(frozen=True)
class FileEdit:
    """One file a tool wrote during a step (`kubegym.agent_runner.tools.file_edits`)."""

    path: str
    """The file's path relative to the workspace (absolute when it lies outside)."""

    diff: str
    """A unified diff of the change, bounded; or a note saying why there is none."""

    def to_wire(self) -> dict[str, str]:
        """The trajectory's form: ``{"path", "diff"}``."""
        return {"path": self.path, "diff": self.diff}


@dataclasses.dataclass
class ToolState:
    """A trial's tool state: the editor's window and the agent's notes. Serializable.

    The environment keeps one per trial and records `to_dict` in the trajectory.
    """

    open_file: str | None = None
    """The open file's absolute path inside the sandbox."""

    first_line: int = 1
    """The first line the editor's window shows (1-based)."""

    memory: list[str] = dataclasses.field(default_factory=list)
    """The notes written with ``memory_write``, oldest first."""

    scrolls_in_a_row: int = 0
    """How many scroll commands ran back to back (a warning follows a long streak)."""

    current_line: float = 0
    """The mlgym preset's editor position: MLGym's ``CURRENT_LINE``, the window's middle."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolState:
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})


@dataclasses.dataclass(frozen=True)
class Guardrail:
    """A command the sandbox refuses, and what to say instead.

    ``pattern`` is a regular expression searched in each simple command of the action, written
    as its words joined by single spaces (``git commit -am msg``).
    """

    pattern: str
    message: str


DEFAULT_GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        r"^(vi|vim|nvim|nano|emacs|pico|ed)( |$)",
        "Interactive editors cannot run here. Use `open`, `edit`, `insert` and `create` to change files.",
    ),
    Guardrail(
        r"^(less|more|most|man)( |$)",
        "Pagers cannot run here. Use `open <file>`, `head`, `tail` or `grep` to read files.",
    ),
    Guardrail(
        r"^(top|htop|watch|nvtop)( |$)",
        "Full-screen monitors cannot run here. Run a one-shot command instead, such as `ps aux` or `nvidia-smi`.",
    ),
    Guardrail(
        r"^(python[0-9.]*|ipython|bash|sh|zsh|/bin/bash|/bin/sh|node|R)$",
        "An interactive interpreter cannot run here. Write a script and run it (`python train.py`), or pass code with `python -c '...'`.",
    ),
    Guardrail(
        r"^git commit(?!.* (-[a-zA-Z]*[mF]|--message|--file|--no-edit)( |=|$))",
        '`git commit` would open an editor. Pass the message with `git commit -m "message"`.',
    ),
    Guardrail(r"^(exit|logout)( |$)", "The shell must stay open. To end the task, use `submit`."),
    Guardrail(r"^su( |$)", "Switching users is not possible here."),
)


MLGYM_TRAINING_COMMANDS: tuple[str, ...] = (
    "torchrun",
    "python",
    "python3",
    "accelerate",
    "deepspeed",
)
"""The words that give a shell command MLGym's training timeout (``TRAIN_COMMANDS`` in MLGym's
``mlgym/environment/env.py``), each tested as a plain substring of the whole action."""

MLGYM_SHORT_TIMEOUT_S = 25.0
"""MLGym's limit for any other command (``MLGYM_AGENT_SHORT_TIMEOUT``, 25 s by default)."""


@dataclasses.dataclass(frozen=True)
class ToolConfig:
    """How the tools behave; one per agent. The defaults are kubegym's; `for_preset` gives
    MLGym-Bench's default agent's (a 1,000-line window, flake8-linted edits, 25 s for commands
    that name no training program)."""

    preset: Literal["kubegym", "mlgym"] = "kubegym"
    """Whose editor and wording the tools follow where the two differ: kubegym's own, or MLGym's
    (the window placed by its middle line as MLGym's ``defaults.sh`` places it, MLGym's messages
    for a killed command, a refused edit, a line out of range, word for word)."""

    window: int = 100
    """How many lines the editor shows at a time."""

    overlap: int = 2
    """How many lines a scroll keeps from the previous window."""

    command_timeout_s: float | None = None
    """The timeout of a shell command; None leaves the sandbox's default (the task's limit)."""

    max_results: int = 100
    """The most files or lines a search lists before asking to narrow it down."""

    max_open_bytes: int = 2_000_000
    """The largest file ``open`` shows; bigger ones are read with head, tail or grep."""

    scroll_warning_after: int = 3
    """After this many scrolls in a row, suggest ``search_file`` or ``goto``."""

    guardrails: tuple[Guardrail, ...] = DEFAULT_GUARDRAILS
    """The commands refused before they run."""

    literature_url: str | None = None
    """Semantic Scholar's base URL; $KUBEGYM_SEMANTIC_SCHOLAR_URL or the public API when None."""

    literature_timeout_s: float = 5.0
    """How long a literature search may wait for the service."""

    literature_results: int = 10
    """How many papers a literature search lists."""

    lint: Literal["syntax", "flake8"] = "syntax"
    """How an edit or insertion of a Python file is checked before it is saved: ``syntax``
    (kubegym's: the file must still parse if it parsed before) or ``flake8`` (MLGym's: no new
    error among flake8's F821, F822, F831, E111, E112, E113, E999 and E902)."""

    training_commands: tuple[str, ...] = ()
    """Words that mark a shell command as training when they appear anywhere in its text (MLGym's
    rule); such a command gets ``command_timeout_s``, any other ``short_command_timeout_s``.
    Empty: every command gets ``command_timeout_s``."""

    short_command_timeout_s: float | None = None
    """The timeout of a command that names no training word, when ``training_commands`` is set."""

    gpu_info: bool = False
    """Whether the environment reads the sandbox's GPUs at reset (``nvidia-smi``) for MLGym's
    ``(GPU Count: …, GPU Model: …, Total memory per GPU: …)`` line; only for tasks with GPUs."""

    @classmethod
    def for_preset(cls, preset: Literal["kubegym", "mlgym", "mlgym-gpu-info"]) -> ToolConfig:
        """The tools' settings of an agent preset (`kubegym.api.runs.Agent.preset`).

        ``mlgym`` follows MLGym-Bench's default agent (``configs/agents/default.yaml``): a
        1,000-line window with 2 lines of overlap placed as MLGym places it, edit and insert
        linted by flake8, the task's training timeout for commands naming ``python``,
        ``python3``, ``torchrun``, ``accelerate`` or ``deepspeed`` and 25 s for any other, and
        MLGym's messages. ``mlgym-gpu-info`` adds the GPU line of MLGym's
        ``default_gpu_info.yaml`` (MLGym-Bench's published runs used ``default.yaml``, which
        has none).
        """
        if preset == "kubegym":
            return cls()
        if preset in ("mlgym", "mlgym-gpu-info"):
            return cls(
                preset="mlgym",
                window=1000,
                overlap=2,
                lint="flake8",
                training_commands=MLGYM_TRAINING_COMMANDS,
                short_command_timeout_s=MLGYM_SHORT_TIMEOUT_S,
                gpu_info=preset == "mlgym-gpu-info",
            )
        raise ValueError(f"unknown agent preset {preset!r}: kubegym, mlgym or mlgym-gpu-info")

    def check(self, field: str = "spec.agents[].preset") -> None:
        """Check that this machine can honour the settings (flake8 for ``lint="flake8"``).

        Args:
            field: the run file's field that chose them, for the error.

        Raises:
            ConfigError: flake8 cannot run here.
        """
        if self.lint == "flake8":
            missing = lint.check_available()
            if missing is not None:
                raise ConfigError(
                    missing,
                    field=field,
                    hint="the mlgym preset lints edits with flake8: install kubegym[agent]",
                )

    def timeout_for(self, command: str) -> float | None:
        """The timeout of a shell command under these settings; None: the sandbox's own limit
        (the task's training timeout).

        MLGym's test, kept as it is: a training word anywhere in the action's text, even in a
        comment or a file name, gives the long timeout, and nothing gives more than that.
        """
        training = any(word in command for word in self.training_commands)
        if self.training_commands and self.short_command_timeout_s is not None and not training:
            return self.short_command_timeout_s
        return self.command_timeout_s


Evaluate = Callable[[Literal["validate", "submit"]], ToolResult]
"""The environment's scorer: runs validate or submit and returns the model-facing result."""


@dataclasses.dataclass
class ToolContext:
    """Everything a tool may touch during one step."""

    sandbox: protocol.Sandbox
    state: ToolState
    config: ToolConfig = dataclasses.field(default_factory=ToolConfig)
    evaluate: Evaluate | None = None
    """Scores the artifact (validate and submit); owned by the environment."""

    enabled: frozenset[str] | None = None
    """The tools this agent may use; every registered tool when None."""

    task_timeout_s: float | None = None
    """The sandbox's own limit on a command (the task's training timeout), for messages that
    name it; set by the environment."""

    workspace: str = "/workspace"
    """The workspace's path as the sandbox sees it; edits are recorded relative to it."""

    edits: list[FileEdit] = dataclasses.field(default_factory=list)
    """The files the editing tools wrote during the current step; the environment empties it
    before each action."""


class Arguments:
    """The parsed, type-checked arguments of one call, with typed accessors."""

    def __init__(self, values: Mapping[str, str | int | None]) -> None:
        self.values = dict(values)

    def text(self, name: str) -> str:
        value = self.values[name]
        assert isinstance(value, str), name
        return value

    def optional_text(self, name: str) -> str | None:
        value = self.values.get(name)
        assert value is None or isinstance(value, str), name
        return value

    def number(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int), name
        return value

    def optional_number(self, name: str) -> int | None:
        value = self.values.get(name)
        assert value is None or isinstance(value, int), name
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arguments) and other.values == self.values

    def __repr__(self) -> str:
        return f"Arguments({self.values!r})"


Run = Callable[[ToolContext, Arguments], ToolResult]


@dataclasses.dataclass(frozen=True)
class Tool:
    """A registered tool: its definition (the prompt text) and the function that runs it."""

    command: Command
    run: Run

    @property
    def name(self) -> str:
        return self.command.name


TOOLS: _registry.Registry[Tool] = _registry.Registry("tool", field="spec.agents[].tools")
"""Every tool the model may be shown, by name, in prompt order."""


def tool(command: Command) -> Callable[[Run], Run]:
    """Register the decorated function as the tool that runs ``command``."""

    def decorate(run: Run) -> Run:
        TOOLS.add(command.name, Tool(command, run))
        return run

    return decorate


def usage_error(command: Command, message: str) -> ToolResult:
    """A bad-arguments answer: what is wrong, then the usage line."""
    return ToolResult(f"Error: {message}\n{command.usage}", EXIT_USAGE, command.name)
