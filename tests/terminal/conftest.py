"""Fixtures for the terminal tests: a real tmux server of our own and a small quickstart run.

Each test gets a tmux server on a private socket (so nothing of the user's is
touched), a pane of fixed size running a command, and `Pane.capture` to read
the screen as a person would see it. tmux is one of the packages `make test`
installs, so a missing tmux fails the tests with a message instead of skipping.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 110, 40


def kubegym_command(*args: str) -> str:
    """The shell command running this checkout's kubegym with these arguments."""
    return shlex.join([sys.executable, "-m", "kubegym", *args])


@dataclass
class Pane:
    """A detached tmux session of fixed size on a private server."""

    socket: Path
    name: str = "kubegym"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout

    def start(self, command: str, env: dict[str, str] | None = None) -> None:
        """Run ``command`` in the pane; it stays open after the command ends."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        # The pane's own size, not one a parent process exported.
        script = (
            f"cd {shlex.quote(str(REPO))} && unset COLUMNS LINES && {exports} {command};"
            " echo EXIT=$?; sleep 3600"
        )
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(WIDTH), "-y", str(HEIGHT), script)

    def capture(self) -> str:
        """The visible screen, trailing blank lines dropped."""
        return self.tmux("capture-pane", "-p", "-t", self.name).rstrip("\n")

    def info(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.name, fmt).strip()

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait_for(
        self, found: Callable[[str], bool], timeout: float, every: float = 0.2
    ) -> tuple[str, list[str]]:
        """Capture until ``found(screen)``; the last screen and every distinct one seen."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            if not seen or seen[-1] != screen:
                seen.append(screen)
            if found(screen):
                return screen, seen
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen within {timeout} s; the screen:\n{screen}")
            time.sleep(every)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: `make test` installs it (Debian package tmux)")
    made = Pane(tmp_path / "tmux.sock")
    yield made
    subprocess.run(["tmux", "-S", str(made.socket), "kill-server"], capture_output=True)


@pytest.fixture
def small_run(tmp_path: Path) -> Path:
    """examples/quickstart.yaml with its two quick tasks (8 trials, seconds each)."""
    folder = tmp_path / "run"
    folder.mkdir()
    for linked in ("tasks", "replays"):
        (folder / linked).symlink_to(REPO / "examples" / linked)
    run = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
    run["spec"]["tasks"]["names"] = ["polyfit", "xor-blobs"]
    run["spec"].pop("store")
    path = folder / "quickstart.yaml"
    path.write_text(yaml.safe_dump(run))
    return path
