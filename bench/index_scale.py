"""The results index on a generated 10,000-trial run: ingest, then queries against reading the files.

Writes a run folder the way `kubegym run` leaves it (`tests.support.synthetic_run`,
steps kept short: the index never reads trajectories), and times, each the median of
``--repeat`` runs:

* the baseline: listing the trials and ``json.load`` of every results.json, which is
  what answering any question about the run costs without an index;
* the first ingest (every results.json read and written), a second ingest of the
  unchanged run (fingerprints only: nothing read, nothing written), and an ingest
  after 100 trials finished (the live run's case);
* the first page of trials (100), a filtered page (one agent, failed trials), a late
  page (from a cursor near the end), the facets, and a task's score history;

and prints each against the baseline. ``--index URL`` runs it on another database
(PostgreSQL: ``postgresql://USER@/DB?host=/socket/dir``); the default is a SQLite file
in a temporary folder. Usage::

    .venv/bin/python bench/index_scale.py [--trials 10000] [--repeat 5] [--index URL]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Bench scripts run as `.venv/bin/python bench/x.py`: the repository root holds tests.support.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds, once, read_every_results

from tests.support import synthetic_run


def measure(folder: Path, url: str, repeat: int) -> list[tuple[str, float]]:
    from kubegym import index

    idx = index.open(url)
    idx.rebuild([])
    read_every_results(folder)  # warm the page cache for everyone alike
    baseline = median_seconds(lambda: read_every_results(folder), repeat)
    first = once(lambda: idx.ingest(str(folder)))
    again = median_seconds(lambda: idx.ingest(str(folder)), repeat)
    report = idx.ingest(str(folder))
    assert report.read == 0 and report.unchanged > 0, report
    rid = idx.run_id(str(folder))

    # 100 trials "finish": their results are rewritten (new fingerprints)
    finished = sorted((folder / "trials").iterdir())[:100]
    for trial in finished:
        path = trial / "results.json"
        if path.exists():
            path.write_bytes(path.read_bytes())
    live = once(lambda: idx.ingest(str(folder)))

    run = idx.run(rid)
    assert run is not None
    agent, task = run.agents[0], run.tasks[0]
    pages = []
    cursor = None
    while True:
        page = idx.trials(rid, cursor=cursor, limit=1000)
        pages.append(page.next_cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    late = pages[-2] if len(pages) > 1 else None
    timings = [
        ("baseline: json.load every results.json", baseline),
        (f"first ingest ({run.finished_trials} trials)", first),
        ("ingest again, unchanged (writes nothing)", again),
        ("ingest after 100 trials changed", live),
        ("first page of trials (100)", median_seconds(lambda: idx.trials(rid), repeat)),
        (
            "filtered page (one agent, failed)",
            median_seconds(lambda: idx.trials(rid, agent=agent, failure_class="agent"), repeat),
        ),
        ("late page (keyset cursor)", median_seconds(lambda: idx.trials(rid, cursor=late), repeat)),
        ("facets (5 filters with counts)", median_seconds(lambda: idx.facets(rid), repeat)),
        (
            "history of one task, one agent",
            median_seconds(lambda: idx.history(task, agent=agent), repeat),
        ),
        ("runs of one agent on one task", median_seconds(lambda: idx.runs(agent, task), repeat)),
    ]
    idx.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--index", help="index URL [default: a SQLite file in a temporary folder]")
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="index-scale-"))
    folder = args.keep or work / "run"
    try:
        if not (folder / "trials").is_dir():
            start = time.perf_counter()
            synthetic_run.write_run(
                folder, args.trials, steps=(1, 2), long_trial_steps=0, hostile=True
            )
            print(f"wrote {args.trials} trials in {time.perf_counter() - start:.1f} s")
        url = args.index or f"sqlite:///{work / 'index.sqlite'}"
        timings = measure(folder, url, args.repeat)
        baseline = timings[0][1]
        print(f"index: {url.split('?')[0]}")
        print(f"{'step':44} {'seconds':>9} {'vs baseline':>12}")
        for name, seconds in timings:
            print(f"{name:44} {seconds:9.4f} {seconds / baseline:11.4f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
