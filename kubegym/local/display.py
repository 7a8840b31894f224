"""Draws a `kubegym.local.live.RunState` on a terminal with rich: the live run display.

`kubegym run` (through `kubegym.local.progress.Progress`) and `kubegym status`
use it. `render` turns a state into one rich renderable and is all the drawing
there is; `LiveDisplay` redraws it in place twice a second until the run
ends, then leaves its last frame and gives the cursor back, on Ctrl-C too.
Every string that did not come from this module goes through
`kubegym.local.live.safe_text` and into a `rich.text.Text`, so neither escape
sequences nor rich markup in a name reach the terminal as such.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kubegym.local import live

#: Per-task best columns shown; more tasks are summed up in one column.
MAX_TASK_COLUMNS = 4

#: Agents shown in the table; more are counted in a last row.
MAX_AGENT_ROWS = 12


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12s``, or ``—`` when unknown."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def render(
    state: live.RunState, now: float, log_file: str | None = None, title: str = "kubegym run"
) -> RenderableType:
    """The whole display of ``state`` at ``now`` (monotonic seconds)."""
    header = Text()
    header.append(f"{title} ", style="bold")
    header.append(live.safe_text(state.run), style="bold cyan")
    if state.phase:
        header.append(f"   {live.safe_text(state.phase, 20)}")
    header.append(f"   elapsed {duration(state.elapsed(now))}")
    if state.ended_at is None:
        header.append(f"   time left ~{duration(state.eta_seconds(now))}")
    elif state.interrupted:
        header.append("   INTERRUPTED", style="bold red")
    elif state.finished + state.skipped < state.total and state.phase is None:
        header.append("   stopped", style="bold red")  # an error ended it; said below
    else:
        header.append("   finished", style="bold green")

    counts = Text()
    counts.append(f"trials {state.finished}/{state.total}   ")
    counts.append(f"done {state.succeeded}", style="green")
    counts.append(f"   running {len(state.running)}", style="yellow")
    counts.append(f"   failed {state.failed}", style="red" if state.failed else "")
    counts.append(f"   queued {state.queued}")
    extra = []
    if state.resumed:
        extra.append(f"resumed {state.resumed}")
    if state.skipped:
        extra.append(f"skipped {state.skipped}")
    if state.infra_retried:
        extra.append(f"infra retries {state.infra_retried}")
    if extra:
        counts.append("   (" + ", ".join(extra) + ")", style="dim")

    spend = Text(f"spend ${state.spent_usd:.2f}")
    share = state.budget_share()
    if state.budget_usd is not None:
        spend.append(f" of ${state.budget_usd:.2f}")
        if share is not None:
            spend.append(f" ({share:.0%})", style="red" if share >= 0.9 else "")
    spend.append(f"   tokens {state.tokens:,}   steps {state.steps:,}")

    parts: list[RenderableType] = [header, _bar(state), counts, spend, _agents(state)]
    if state.recent_failures:
        failures = Text("recent failures\n", style="bold red")
        for failure in state.recent_failures:
            failures.append(f"  {live.safe_text(failure.trial)}: ")
            failures.append(live.safe_text(failure.reason, 40), style="red")
            if failure.retrying:
                failures.append(" (retrying)", style="dim")
            if failure.message:
                failures.append(f" — {live.safe_text(failure.message, 80)}", style="dim")
            failures.append("\n")
        failures.rstrip()
        parts.append(failures)
    if log_file:
        parts.append(Text(f"logs: {live.safe_text(log_file, 200)}", style="dim"))
    return Group(*parts)


def _bar(state: live.RunState, width: int = 40) -> Text:
    """A bar of finished (green), failed (red) and running (yellow) trials."""
    total = max(state.total, 1)
    cells = [
        (state.succeeded, "green"),
        (state.failed, "red"),
        (len(state.running), "yellow"),
    ]
    bar = Text()
    used = 0
    for count, style in cells:
        n = round(width * count / total)
        n = min(n, width - used)
        bar.append("█" * n, style=style)
        used += n
    bar.append("░" * (width - used), style="dim")
    return bar


def _agents(state: live.RunState) -> Table:
    tasks = state.tasks()
    shown = tasks[:MAX_TASK_COLUMNS]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("agent", no_wrap=True, overflow="ellipsis", max_width=30)
    table.add_column("finished", justify="right")
    table.add_column("failed", justify="right")
    if state.aup:
        table.add_column("AUP", justify="right")
    for task in shown:
        arrow = {"max": " ↑", "min": " ↓"}.get(state.directions.get(task, ""), "")
        table.add_column(
            Text(live.safe_text(task, 24) + arrow), justify="right", no_wrap=True, max_width=26
        )
    if len(tasks) > len(shown):
        table.add_column(f"+{len(tasks) - len(shown)} tasks scored", justify="right")
    standings = state.standings()
    for name, standing in standings[:MAX_AGENT_ROWS]:
        row: list[RenderableType] = [
            Text(live.safe_text(name, 30)),
            str(standing.finished),
            str(standing.failed) if standing.failed else "",
        ]
        if state.aup:
            row.append(_score(state.aup.get(name)))
        row.extend(_score(standing.best.get(task)) for task in shown)
        if len(tasks) > len(shown):
            rest = [t for t in tasks[len(shown) :] if t in standing.best]
            row.append(str(len(rest)))
        table.add_row(*row)
    if len(standings) > MAX_AGENT_ROWS:
        table.add_row(Text(f"… {len(standings) - MAX_AGENT_ROWS} more agents", style="dim"))
    return table


class LiveDisplay:
    """``state`` redrawn in place on ``stream`` until `stop`.

    Args:
        state: what to show; changed by other threads under ``lock``.
        lock: held while the state is read for a frame.
        stream: the terminal (the CLI's stderr, before logs were moved off it).
        log_file: where the logs go, shown at the bottom.
        clock: monotonic seconds; for tests.
    """

    def __init__(
        self,
        state: live.RunState,
        lock: threading.Lock,
        stream: TextIO,
        log_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.state = state
        self.lock = lock
        self.log_file = log_file
        self._clock = clock
        self.console = Console(file=stream, highlight=False, markup=False, emoji=False)
        self._live = Live(
            console=self.console,
            get_renderable=self._frame,
            # Twice a second reads as live and costs little (bench/terminal_display.py).
            refresh_per_second=2,
            # Anything printed to sys.stdout/stderr meanwhile goes above the display.
            redirect_stdout=True,
            redirect_stderr=True,
            transient=False,
        )

    def _frame(self) -> RenderableType:
        with self.lock:
            return render(self.state, self._clock(), self.log_file)

    def start(self) -> None:
        self._live.start()

    def refresh(self) -> None:
        self._live.refresh()

    def stop(self) -> None:
        """Draw the last frame and give the terminal back (cursor shown)."""
        if self._live.is_started:
            self._live.stop()
