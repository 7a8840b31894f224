"""`kubegym report` gives the same report whether it reads every results.json or takes the index's rows.

Checked on both databases, on a run holding what makes the index cut or refuse
(a huge message, a result that claims another trial, an unreadable one), with
``--index URL`` (the run is ingested first) and with the default index already
holding the run (``$KUBEGYM_INDEX``), and that a stale default index is not used.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym import index
from kubegym.cli import main
from kubegym.index import sources
from kubegym.report import loading
from tests.unit.report.tiny_run import RUN, trial, write_tiny_run


def _report(run: Path, out: Path, *extra: str) -> tuple[str, dict[str, object]]:
    result = CliRunner().invoke(
        main, ["report", str(run), "--format", "json", "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return result.stdout, json.loads((out / "report.json").read_text())


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    run = write_tiny_run(tmp_path / RUN)
    odd = run / "trials" / "odd-one"
    odd.mkdir()
    (odd / "results.json").write_text(
        json.dumps(
            trial(
                "acc",
                "A",
                7,
                trial="claims-another",
                exit_reason="agent_error",
                failure_class="agent",
                message="first line'; DELETE FROM trials; --\n" + "y" * 100_000,
            )
        )
    )
    nan = run / "trials" / "not-a-number"
    nan.mkdir()  # NaN: SQLite stores NULL, PostgreSQL NaN; the report's frame holds NaN
    (nan / "results.json").write_text(json.dumps(trial("loss", "B", 9, score=float("nan"))))
    (run / "trials" / "unreadable").mkdir()
    (run / "trials" / "unreadable" / "results.json").write_text("[1, 2")
    return run


def test_the_report_is_the_same_from_the_index(
    index_url: str, hostile_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEGYM_INDEX", str(tmp_path / "no-default-index.sqlite"))
    plain_out, plain = _report(hostile_run, tmp_path / "plain")
    assert not (tmp_path / "no-default-index.sqlite").exists()  # reading never creates one
    indexed_out, indexed = _report(hostile_run, tmp_path / "indexed", "--index", index_url)
    assert indexed == plain and indexed_out == plain_out
    assert any("claims the trial 'claims-another'" in n for n in plain["notes"])  # type: ignore[attr-defined]

    # the rows really came from the index: load_run takes them and skips no file
    with index.open(index_url) as idx:
        source = sources.open_source(str(hostile_run))
        files = source.list_files()
        taken = idx.trials_for(source, files)
        assert taken is not None and "odd-one" in taken.records
        assert loading.load_run(source, idx).trials.equals(loading.load_run(source).trials)


def test_the_default_index_is_used_only_when_up_to_date(
    hostile_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "default.sqlite"
    monkeypatch.setenv("KUBEGYM_INDEX", str(default))
    with index.open() as idx:
        idx.ingest(str(hostile_run))
        source = sources.open_source(str(hostile_run))
        assert idx.trials_for(source, source.list_files()) is not None  # the report takes it
    _, plain = _report(hostile_run, tmp_path / "first")
    # a trial changes after the ingest: the stale index is passed over, the file read
    folder = hostile_run / "trials" / f"{RUN}-acc-A-s0"
    data = json.loads((folder / "results.json").read_text())
    (folder / "results.json").write_text(json.dumps({**data, "score": 0.1, "best_attempt": 0.1}))
    with index.open() as idx:
        source = sources.open_source(str(hostile_run))
        assert idx.trials_for(source, source.list_files()) is None
    _, changed = _report(hostile_run, tmp_path / "second")
    assert changed != plain
    monkeypatch.delenv("KUBEGYM_INDEX")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no default index at all
    _, without = _report(hostile_run, tmp_path / "third")
    assert without == changed


def test_the_store_layout_reports_the_same_from_the_index(
    index_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``<id>/attempt-<n>/`` folders (the store's keys), one trial with two attempts."""
    local = write_tiny_run(tmp_path / "local")
    run = tmp_path / RUN
    for folder in sorted((local / "trials").iterdir()):
        results = folder / "results.json"
        attempt = json.loads(results.read_text())["attempt"] if results.exists() else 0
        shutil.copytree(folder, run / folder.name / f"attempt-{attempt}")
    for name in ("leaderboard.json", "status.json"):
        shutil.copy(local / name, run / name)
    retried = run / f"{RUN}-loss-A-s1"
    older = json.loads((retried / "attempt-0" / "results.json").read_text())
    (retried / "attempt-0").rename(retried / "attempt-1")
    (retried / "attempt-0").mkdir()
    (retried / "attempt-0" / "results.json").write_text(
        json.dumps({**older, "attempt": 0, "exit_reason": "infra_error", "failure_class": "infra"})
    )
    monkeypatch.setenv("KUBEGYM_INDEX", str(tmp_path / "no-default-index.sqlite"))
    plain_out, plain = _report(run, tmp_path / "plain")
    indexed_out, indexed = _report(run, tmp_path / "indexed", "--index", index_url)
    assert indexed == plain and indexed_out == plain_out
    with index.open(index_url) as idx:
        row = idx.trial(idx.run_id(str(run)), f"{RUN}-loss-A-s1")
        assert row is not None and (row.attempt, row.failure_class) == (1, "agent")
