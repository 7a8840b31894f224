"""Names and messages an agent controls cannot take over a real terminal through the display.

A trial's agent, task and failure message full of escape sequences (retitle the
window, clear the screen, hide text, move the cursor, rich markup) and a very
long name go through the live display in a tmux pane: the title stays, the
screen above stays, and the sequences show as text.
"""

from __future__ import annotations

import shlex
import sys

from tests.terminal.conftest import Pane

SCRIPT = r"""
import time
from kubegym.api import results
from kubegym.local import live, progress

bad = "\x1b]2;PWNED\x07\x1b[2J\x1b[H\x1b[8m[bold]markup[/]\r\x08\x9b1A"
state = live.RunState(run=bad, trials={"t0": (bad, bad), "t1": ("x" * 3000, "y" * 3000)})
p = progress.Progress(2)
p.show_live(state, log_file=bad)
p.started("t0")
p.finished(results.TrialResult(
    trial="t0", task=bad, agent=bad, seed=0, primary_metric="m", direction="max",
    exit_reason="agent_error", failure_class="agent", message=bad * 5))
p.infra_failure(bad, bad, retrying=True)
time.sleep(1)
p.close()
print("AFTER-DISPLAY")
"""


def test_escape_sequences_in_names_show_as_text(pane: Pane) -> None:
    command = f"echo BEFORE-DISPLAY; {shlex.join([sys.executable, '-c', SCRIPT])}"
    pane.start(command)
    title = pane.info("#{pane_title}")
    screen, _ = pane.wait_for(lambda s: "EXIT=" in s, timeout=120)
    assert "EXIT=0" in screen, screen
    assert "BEFORE-DISPLAY" in screen  # the screen was not cleared
    assert "AFTER-DISPLAY" in screen
    assert pane.info("#{pane_title}") == title and "PWNED" not in title
    assert r"\x1b]2;PWNED\x07" in screen  # written out, readable
    assert "[bold]markup[/]" in screen  # markup shown as typed
    assert "x" * 200 not in screen  # the long name was cut
    assert pane.info("#{cursor_flag}") == "1"
    # Nothing was hidden: the text after the "hide" sequence is on screen.
    assert "agent_error" in screen
