"""Shell commands: any action that is not a tool name runs in the sandbox's persistent shell.

Not listed among the tools (the prompt explains that plain shell commands work); used by
`kubegym.agent_runner.tools.actions`. Interactive programs are refused before they run, by the
guardrails of `ToolConfig`, with a message that says what to do instead.
"""

from __future__ import annotations

import re
import shlex

from kubegym.agent_runner.tools import base

COMMAND = base.Command(
    name="bash",
    signature="bash <command>",
    docstring="Runs a shell command in the sandbox (cwd and exported variables carry over).",
    arguments=(base.Argument(name="command", rest_of_line=True, description="the shell command"),),
)

_SEPARATORS = frozenset({";", "&", "&&", "|", "||", "|&", "(", ")", "\n"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def simple_commands(text: str) -> list[str]:
    """The simple commands of a shell line, each as its words joined by one space.

    A rough split, good enough for guardrails: quotes are honoured, ``;``, ``&&``, ``|`` and
    newlines separate commands, leading ``VAR=value`` words and ``sudo``/``env`` are dropped.
    """
    lexer = shlex.shlex(text.replace("\n", " ; "), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        tokens = text.split()
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS or set(token) <= set(";&|()"):
            commands.append([])
        else:
            commands[-1].append(token)
    simple = []
    for words in commands:
        while words and (
            _ASSIGNMENT.match(words[0]) or words[0] in ("sudo", "env", "time", "nohup")
        ):
            words = words[1:]
        if words:
            simple.append(" ".join(words))
    return simple


def blocked(text: str, guardrails: tuple[base.Guardrail, ...]) -> base.Guardrail | None:
    """The first guardrail that refuses one of the command's simple commands."""
    for command in simple_commands(text):
        for rail in guardrails:
            if re.search(rail.pattern, command):
                return rail
    return None


def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    """Run the command in the sandbox's shell, unless a guardrail refuses it."""
    command = args.text("command")
    rail = blocked(command, ctx.config.guardrails)
    if rail is not None:
        return base.ToolResult(
            f"Error: this command was not run. {rail.message}",
            base.EXIT_BLOCKED,
            COMMAND.name,
        )
    timeout = ctx.config.timeout_for(command)
    result = ctx.sandbox.exec(command, timeout=timeout)
    if result.timed_out or result.exit_code is None:
        if ctx.config.preset == "mlgym":
            return mlgym_timeout(timeout if timeout is not None else ctx.task_timeout_s)
        limit = f" after {timeout:g} seconds" if timeout else ""
        note = (
            f"The command ran past its time limit{limit} and was killed. Make it shorter "
            "(fewer epochs, less data), or run it in the background with its output in a log file."
        )
        return base.ToolResult(
            f"{result.output.rstrip()}\n{note}".lstrip(), base.EXIT_TIMEOUT, COMMAND.name
        )
    return base.ToolResult(result.output, result.exit_code, COMMAND.name)


def mlgym_timeout(limit: float | None) -> base.ToolResult:
    """MLGym's answer to a killed command: its message alone. MLGym's shell reader raises its
    timeout without the output it had read (``read_with_timeout``), so the model never sees it."""
    if limit is None:  # no environment said the sandbox's limit (a bare ToolContext)
        message = "\nEXECUTION TIMED OUT BECAUSE THE COMMAND RAN PAST ITS TIME LIMIT."
    else:
        message = f"\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN {limit:g} SECONDS."
    return base.ToolResult(message, base.EXIT_TIMEOUT, COMMAND.name)


TOOL = base.Tool(COMMAND, run)
"""The shell passthrough, kept out of `base.TOOLS`: it is always available and never listed."""
