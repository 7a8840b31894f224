"""The report's tables on the hand-made run, against numbers worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kubegym import report
from kubegym.report import loading
from kubegym.scoring import REFERENCE
from tests.unit.report.tiny_run import MISSING


def build(folder: Path) -> report.Report:
    return report.build_report(report.load_run(report.LocalRunFolder(folder)), with_plots=False)


def table(document: report.Report, key: str) -> dict:
    (found,) = [t for t in document.tables if t.key == key]
    return found.frame.to_dict(orient="index")


def test_the_trials_load_in_plan_order_with_the_missing_one_apart(tiny_run: Path) -> None:
    run = report.load_run(report.LocalRunFolder(tiny_run))
    assert run.run == "tiny"
    assert run.unfinished == [MISSING]
    # task order from leaderboard.json, agents in the run file's order (B before A)
    assert [
        (t, a, s) for t, a, s in run.trials[["task", "agent", "seed"]].itertuples(index=False)
    ] == [
        ("acc", "B", 0),
        ("acc", "B", 1),
        ("acc", "A", 0),
        ("acc", "A", 1),
        ("loss", "B", 0),
        ("loss", "A", 0),
        ("loss", "A", 1),
    ]
    assert run.references.to_dict(orient="list") == {
        "task": ["acc", "loss"],
        "direction": ["max", "min"],
        "baseline_score": [0.5, 2.0],
    }


def test_the_leaderboard_reproduces_the_recorded_one_and_the_hand_numbers(tiny_run: Path) -> None:
    document = build(tiny_run)
    assert "reproduces the run's leaderboard.json exactly" in " ".join(document.notes)
    board = table(document, "leaderboard")
    assert list(board) == ["A", "B", REFERENCE]
    # tau_max = ceil(10·log10 3)/10 = 0.5 (loss, best attempt: worst ratio 2, cap ceil(2.1) = 3).
    # A is best everywhere: 0.5. B: ratios 1.5 (acc) and 2.1 (loss: 2.5 is worse than the
    # baseline, so 1.05 × 2); the reference: 1.8 and 2.
    assert board["A"]["aup_best_attempt"] == pytest.approx(0.5, abs=2e-3)
    b = 0.5 - 0.5 * math.log10(1.5) - 0.5 * math.log10(2.1)
    assert board["B"]["aup_best_attempt"] == pytest.approx(b, abs=2e-3)
    ref = 0.5 - 0.5 * math.log10(1.8) - 0.5 * math.log10(2.0)
    assert board[REFERENCE]["aup_best_attempt"] == pytest.approx(ref, abs=2e-3)
    # ranks: acc A 1, B 2, ref 3; loss A 1, ref 2, B 3 (both profiles)
    for profile in ("best_attempt", "best_submission"):
        assert {m: r[f"mean_rank_{profile}"] for m, r in board.items()} == {
            "A": 1.0,
            "B": 2.5,
            REFERENCE: 2.5,
        }
    for row in board.values():
        assert row["aup_best_attempt_ci_low"] <= row["aup_best_attempt"]
        assert row["aup_best_attempt"] <= row["aup_best_attempt_ci_high"]


def test_raw_scores_per_task_with_the_baseline_row(tiny_run: Path) -> None:
    document = build(tiny_run)
    attempt = table(document, "scores_best_attempt")
    assert list(attempt) == [REFERENCE, "B", "A"]
    assert attempt[REFERENCE] == {"acc (max)": 0.5, "loss (min)": 2.0}
    assert attempt["A"] == {"acc (max)": 0.9, "loss (min)": 1.0}
    assert attempt["B"] == {"acc (max)": 0.6, "loss (min)": 2.5}  # the infra failure left out
    submission = table(document, "scores_best_submission")
    assert submission["A"] == {"acc (max)": 0.8, "loss (min)": 1.5}


def test_costs_and_tokens_per_agent(tiny_run: Path) -> None:
    costs = table(build(tiny_run), "costs")
    assert costs["A"]["trials"] == 4 and costs["B"]["trials"] == 3
    assert costs["A"]["cost_usd"] == pytest.approx(0.27)
    assert costs["A"]["cost_per_trial_usd"] == pytest.approx(0.0675)
    assert costs["A"]["prompt_tokens"] == 180 and costs["A"]["completion_tokens"] == 18
    assert costs["A"]["tokens_per_trial"] == pytest.approx(198 / 4)
    assert costs["A"]["mean_steps"] == pytest.approx(2.0)
    assert costs["B"]["cost_usd"] == pytest.approx(0.01)
    assert costs["B"]["mean_steps"] == pytest.approx(1.0)


def test_the_pareto_front(tiny_run: Path) -> None:
    front = table(build(tiny_run), "pareto")
    # B is cheaper (0.0033 per trial) but worse; A better but dearer: both on the front
    assert front["B"]["pareto_best_attempt"] and front["A"]["pareto_best_attempt"]
    assert REFERENCE not in front


def test_failures_exit_reasons_and_retries(tiny_run: Path) -> None:
    document = build(tiny_run)
    failures = table(document, "failures")
    assert failures["A"] == {
        "trials": 4,
        "exit_submitted": 2,
        "exit_max_steps": 1,
        "exit_agent_error": 1,
        "exit_infra_error": 0,
        "infra_failures": 0,
        "agent_failures": 1,
        "retried_trials": 0,
        "retries": 0,
    }
    assert failures["B"]["exit_infra_error"] == 1 and failures["B"]["infra_failures"] == 1
    assert failures["B"]["retried_trials"] == 2 and failures["B"]["retries"] == 3
    (messages,) = [t.frame for t in document.tables if t.key == "failure_messages"]
    assert set(messages["message"]) == {
        "SandboxStartFailed: node lost",
        "the model answered nothing usable",
    }
    summary = table(document, "summary")
    assert summary["trials planned"]["value"] == 8
    assert summary["trials finished"]["value"] == 7
    assert summary["trials unfinished (folders without results)"]["value"] == 1
    assert summary["retries"]["value"] == 3
    assert any(MISSING in note for note in document.notes)


def test_action_counts_and_shares(tiny_run: Path) -> None:
    document = build(tiny_run)
    counts = table(document, "actions")
    used = {
        agent: {tool: row[agent] for tool, row in counts.items() if row[agent]}
        for agent in ("A", "B")
    }
    assert used["A"] == {
        "open": 1,
        "edit": 1,
        "submit": 2,
        "cat": 1,
        "validate": 2,
        loading.NO_ACTION: 1,
    }
    assert used["B"] == {"python": 1, "submit": 2}  # one read through the JSON fallback
    assert next(iter(counts)) == "submit"  # the most used tool first
    shares = table(document, "action_shares")
    assert shares["submit"]["B"] == pytest.approx(2 / 3)
    assert sum(row["A"] for row in shares.values()) == pytest.approx(1.0)


def test_the_fast_action_reader_agrees_with_json() -> None:
    from tests.unit.report.tiny_run import step_line

    actions = ["submit", "edit 3:4\nfoo", "python\ttrain.py", "find_file x", "a\\b c", '"q" x']
    text = "".join(step_line(i, a) for i, a in enumerate(actions)).encode()
    expected = {"submit": 1, "edit": 1, "python": 1, "find_file": 1, "a\\b": 1, '"q"': 1}
    assert dict(loading.count_tools(text)) == expected
    assert dict(loading.count_tools(text.rstrip(b"\n"))) == expected  # no final newline
    assert dict(loading.count_tools(b"")) == {}


def test_a_run_with_egress_says_so_with_every_host_asked_for(tiny_run: Path) -> None:
    egress = {
        "network": "allowlist",
        "allowlist": ["pypi.org"],
        "hosts": [
            {"host": "pypi.org", "allowed": 2, "refused": 0},
            {"host": "example.com", "allowed": 0, "refused": 3},
        ],
    }
    for name, network in (("tiny-acc-A-s0", egress), ("tiny-acc-B-s0", {"network": "open"})):
        path = tiny_run / "trials" / name / "results.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "egress": network}))
    document = build(tiny_run)
    assert any(n.startswith("2 of 7 trials had network egress") for n in document.notes)
    per_agent = table(document, "network")
    assert (per_agent["A"]["allowlist"], per_agent["A"]["none"], per_agent["A"]["refused"]) == (
        1,
        3,
        3,
    )
    assert (per_agent["B"]["open"], per_agent["B"]["allowed"]) == (1, 0)
    hosts = table(document, "network_hosts")
    assert [(r["host"], r["refused"]) for r in hosts.values()] == [
        ("example.com", 3),
        ("pypi.org", 0),
    ]


def test_a_run_without_network_has_no_network_table(tiny_run: Path) -> None:
    document = build(tiny_run)
    assert not [t for t in document.tables if t.key.startswith("network")]
    assert not any("network egress" in n for n in document.notes)
