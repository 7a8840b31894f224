"""Logging for every kubegym process: structlog, readable on a terminal, JSON elsewhere.

Called once at process start by the CLI (and by the operator and agent pods,
which run through the CLI). Modules take a logger with ``structlog.get_logger()``
and bind context (run, trial, task, agent, seed) once.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Literal, TextIO

import structlog

LogFormat = Literal["auto", "console", "json"]

# What `configure` last chose (``auto`` resolved), for `current_format` and to restore.
_settings: dict[str, str] = {"level": "info", "format": "console"}


def current_format() -> str:
    """``console`` or ``json``: how `configure` last chose to render logs."""
    return _settings["format"]


def current_level() -> str:
    """The level `configure` was last given."""
    return _settings["level"]


def configure(level: str = "info", fmt: LogFormat = "auto") -> None:
    """Set up structlog and the standard library's logging to go through it.

    Args:
        level: the lowest level printed (``debug``, ``info``, ``warning``…).
        fmt: ``console`` for people, ``json`` for log collectors; ``auto`` picks
            console on a terminal and JSON otherwise (in a pod, in CI logs).
            ``KUBEGYM_LOG_FORMAT`` overrides ``auto``.
    """
    if fmt == "auto":
        env = os.environ.get("KUBEGYM_LOG_FORMAT", "")
        fallback = "console" if sys.stderr.isatty() else "json"
        fmt = env if env in ("console", "json") else fallback  # type: ignore[assignment]
    _settings.update(level=level, format=fmt)
    _install(level, fmt, sys.stderr, colors=sys.stderr.isatty() and not dumb_terminal())


def to_file(path: Path, level: str = "info") -> TextIO:
    """Send every log line to ``path`` as JSON lines (appended), and none to the terminal.

    `kubegym run` calls it while its live display holds the terminal, so the
    display is never written into; `configure` puts the logs back. Returns the
    open file (the caller closes it after `configure`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = path.open("a", encoding="utf-8", buffering=1)
    _install(level, "json", stream, colors=False)
    return stream


def dumb_terminal() -> bool:
    """Whether ``TERM=dumb`` asks for plain text: no colours, no cursor movement."""
    return os.environ.get("TERM", "") == "dumb"


def _install(level: str, fmt: str, stream: TextIO, colors: bool) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (kopf, botocore, our own
    # stdlib-only sandbox modules) are rendered the same way, so one run's output
    # reads as one stream: all JSON, or all console lines.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
