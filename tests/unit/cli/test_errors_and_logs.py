"""Errors become one line and exit 1; logs are JSON off a terminal."""

from __future__ import annotations

import json

import pytest
import structlog
from click.testing import CliRunner

from kubegym import log
from kubegym.cli import main


def test_a_config_error_is_one_line_and_exit_1() -> None:
    result = CliRunner().invoke(main, ["crds", "--check"])
    assert result.exit_code == 1
    assert result.stderr == "error: --check needs --out, the folder to compare\n"


def test_debug_shows_the_traceback() -> None:
    result = CliRunner().invoke(main, ["--debug", "crds", "--check"])
    assert result.exit_code == 1
    assert result.exception is not None
    assert type(result.exception).__name__ == "ConfigError"


def test_json_logs_carry_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure("info", "json")
    structlog.get_logger().bind(run="demo", trial="t-1").info("trial_started", seed=3)
    structlog.get_logger().debug("not_shown")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == "trial_started"
    assert (lines[0]["run"], lines[0]["trial"], lines[0]["seed"]) == ("demo", "t-1", 3)
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]


def test_console_logs_are_readable(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure("info", "console")
    structlog.get_logger().info("trial_started", run="demo")
    err = capsys.readouterr().err
    assert "trial_started" in err and "run=demo" in err
    assert not err.lstrip().startswith("{")
