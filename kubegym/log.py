"""Logging for every kubegym process: structlog, readable on a terminal, JSON elsewhere.

Called once at process start by the CLI (and by the operator and agent pods,
which run through the CLI). Modules take a logger with ``structlog.get_logger()``
and bind context (run, trial, task, agent, seed) once.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Literal

import structlog

LogFormat = Literal["auto", "console", "json"]


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
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (kopf, botocore, our own
    # stdlib-only sandbox modules) are rendered the same way, so one run's output
    # reads as one stream: all JSON, or all console lines.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
