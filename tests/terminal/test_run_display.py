"""`kubegym run` at a real terminal (tmux): the live display, its log file, JSON lines when asked.

Each test runs a real local run of the quickstart's two quick tasks (8 trials)
in a tmux pane of fixed size and reads the screen as a person would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.terminal.conftest import REPO, Pane, kubegym_command

TRIALS = re.compile(r"trials (\d+)/8")


def _log_lines(text: str) -> list[str]:
    """Lines of ``text`` that are log lines (JSON or structlog's console form)."""
    return [
        line
        for line in text.splitlines()
        if line.lstrip().startswith("{") or "sandbox_prepared" in line or "[info" in line
    ]


def test_a_terminal_gets_the_live_display_and_the_logs_go_to_a_file(
    pane: Pane, small_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pane.start(kubegym_command("run", str(small_run), "--out", str(out)))
    screen, seen = pane.wait_for(lambda s: "EXIT=" in s, timeout=300)
    assert "EXIT=0" in screen, screen

    # The display moved while the run went: more than one count of finished trials.
    counts = {int(m.group(1)) for s in seen for m in TRIALS.finditer(s)}
    assert 8 in counts and len(counts) >= 2, seen
    during = [s for s in seen if "running" in s and "finished" not in s.split("\n")[0]]
    assert during, "no frame of the running display was seen"
    for frame in seen:
        assert not _log_lines(frame), frame  # no log line ever ran into the display

    # The last frame stays, then the summary; the log file is named on both.
    log_file = out / "kubegym.log"
    assert "trials 8/8" in screen and "done 8" in screen and "queued 0" in screen
    assert "baseline" in screen and "replay" in screen and "polyfit ↑" in screen
    flat = "".join(screen.split())  # a long path may wrap
    assert f"logs:{log_file}" in flat and f"logsin{log_file}" in flat, screen
    assert "quickstart: 8/8 trials finished" in screen
    assert pane.info("#{cursor_flag}") == "1"  # the cursor is back

    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert sum(n.startswith("sandbox_prepared") for n in names) >= 8
    assert names.count("trial_finished") == 8


def test_off_a_terminal_every_event_is_a_json_line(small_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "kubegym", "run", str(small_run), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    names = [e["event"] for e in events]
    assert names.count("trial_started") == 8 and names.count("trial_finished") == 8
    assert any(n.startswith("sandbox_prepared") for n in names)
    assert "\x1b" not in done.stdout + done.stderr  # no display, no colour
    assert "quickstart: 8/8 trials finished" in done.stdout
    assert not (out / "kubegym.log").exists()


def test_log_format_json_keeps_json_lines_on_a_terminal(
    pane: Pane, small_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pane.start(kubegym_command("--log-format", "json", "run", str(small_run), "--out", str(out)))
    screen, seen = pane.wait_for(lambda s: "EXIT=" in s, timeout=300)
    assert "EXIT=0" in screen, screen
    # Long JSON lines wrap at the pane's width: join the rows back.
    joined = ["".join(s.splitlines()) for s in seen]
    assert any('"event": "trial_finished"' in s for s in joined), seen
    assert not any("elapsed" in s or "queued" in s for s in seen)  # no live display
    assert not (out / "kubegym.log").exists()


def test_no_live_and_a_dumb_terminal_get_plain_lines(
    pane: Pane, small_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pane.start(kubegym_command("run", str(small_run), "--out", str(out)), env={"TERM": "dumb"})
    screen, seen = pane.wait_for(lambda s: "EXIT=" in s, timeout=300)
    assert "EXIT=0" in screen, screen
    text = "\n".join(seen)
    assert "trial_finished" in text and "elapsed" not in text
    assert not text.lstrip().startswith("{")  # console lines, not JSON, at a terminal


def test_ctrl_c_leaves_a_clean_terminal_and_the_run_resumes(
    pane: Pane, small_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    pane.start(kubegym_command("run", str(small_run), "--out", str(out)))
    pane.wait_for(lambda s: any(0 < int(m.group(1)) < 8 for m in TRIALS.finditer(s)), 300)
    pane.send("C-c")
    screen, _ = pane.wait_for(lambda s: "EXIT=" in s, timeout=300)
    assert "EXIT=130" in screen, screen
    assert "interrupted:" in screen and "run the same command again to resume" in screen
    assert "INTERRUPTED" in screen  # the display's last frame says so
    assert "Traceback" not in screen
    assert pane.info("#{cursor_flag}") == "1"
    finished = len(list(out.glob("trials/*/results.json")))
    assert 0 < finished < 8

    again = subprocess.run(
        [sys.executable, "-m", "kubegym", "run", str(small_run), "--out", str(out), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["resumed"] == finished
