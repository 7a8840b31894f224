"""`kubegym index` from the command line: ingest, runs, history, rebuild, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubegym.cli import main
from tests.unit.report.tiny_run import RUN, write_tiny_run


def _kubegym(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_then_ask(index_url: str, tmp_path: Path) -> None:
    run = write_tiny_run(tmp_path / "runs" / RUN)
    code, out, _ = _kubegym("index", "ingest", str(run), "--index", index_url)
    assert code == 0 and f"{RUN} ({run}): 7 added, 0 updated, 0 removed, 0 unchanged" in out
    code, out, _ = _kubegym("index", "ingest", str(run), "--index", index_url)
    assert code == 0 and "0 added, 0 updated, 0 removed, 7 unchanged" in out
    code, out, _ = _kubegym("index", "runs", "--agent", "A", "--task", "loss", "--index", index_url)
    assert code == 0 and out.splitlines()[1].startswith(f"{RUN}  Running")
    code, out, _ = _kubegym("index", "runs", "--json", "--agent", "nobody", "--index", index_url)
    assert code == 0 and json.loads(out) == []
    code, out, _ = _kubegym(
        "index", "history", "acc", "--agent", "A", "--json", "--index", index_url
    )
    assert code == 0 and [p["score"] for p in json.loads(out)] == [0.8, None]
    code, out, _ = _kubegym("index", "rebuild", str(run), "--index", index_url)
    assert code == 0 and "7 added" in out


def test_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = _kubegym(
        "index", "ingest", str(tmp_path / "nowhere"), "--index", str(tmp_path / "i")
    )
    assert code == 1 and err.startswith("error: ") and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _kubegym(
        "index", "ingest", str(tmp_path / "empty"), "--index", str(tmp_path / "i")
    )
    assert code == 1 and "holds no run" in err
    code, _, err = _kubegym("index", "runs", "--index", "mysql://u@h/db")
    assert code == 1 and "'mysql' is not a database the index runs on" in err
    code, _, err = _kubegym("index", "runs", "--since", "last week", "--index", str(tmp_path / "i"))
    assert code == 1 and "since: 'last week' is not an ISO 8601 time" in err
