"""Malformed run files give one clear problem each, naming the field and the line."""

from __future__ import annotations

from typing import Any

import pytest

from kubegym.api import documents
from tests.unit.api.samples import dump


def problems(*docs: dict[str, Any]) -> list[documents.Problem]:
    _, found = documents.check_run_file(dump(*docs), "run.yaml")
    return found


def only(found: list[documents.Problem]) -> documents.Problem:
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_a_valid_file_holds_its_tasks_and_run(task: dict[str, Any], run: dict[str, Any]) -> None:
    run_file = documents.parse_run_file(dump(task, run), "run.yaml")
    assert [t.name for t in run_file.tasks] == ["toy"]
    assert run_file.run.name == "demo"
    assert run_file.run.spec.agents[1].cost_limit_usd == 1.5
    assert run_file.task("toy") is run_file.tasks[0]


def test_missing_primary_metric_names_the_field(task: dict[str, Any]) -> None:
    del task["spec"]["evaluation"]["primaryMetric"]
    p = only(problems(task))
    assert p.field == "spec.evaluation.primaryMetric"
    assert p.message == "required field is missing"
    assert p.obj == "Task/toy"


def test_primary_metric_must_be_a_metric(task: dict[str, Any]) -> None:
    task["spec"]["evaluation"]["primaryMetric"] = "accuracy"
    p = only(problems(task))
    assert p.field == "spec.evaluation.primaryMetric"
    assert "one of the metrics" in p.message


def test_zero_seeds_is_refused_with_the_value(run: dict[str, Any]) -> None:
    run["spec"]["seeds"] = 0
    p = only(problems(run))
    assert p.field == "spec.seeds"
    assert "greater than or equal to 1" in p.message
    assert "got 0" in p.message


def test_unknown_field_suggests_the_right_spelling(run: dict[str, Any]) -> None:
    run["spec"]["agents"][1]["costLimitUSD"] = 2
    p = only(problems(run))
    assert p.field == "spec.agents[1].costLimitUSD"
    assert p.message == "unknown field"
    assert p.hint == "did you mean 'costLimitUsd'?"


def test_unknown_field_without_a_close_match_lists_the_known_ones(run: dict[str, Any]) -> None:
    run["spec"]["colour"] = "blue"
    p = only(problems(run))
    assert p.field == "spec.colour"
    assert p.hint is not None and "parallelism" in p.hint


def test_wrong_type_shows_what_was_given(run: dict[str, Any]) -> None:
    run["spec"]["parallelism"] = "two"
    p = only(problems(run))
    assert p.field == "spec.parallelism"
    assert "valid integer" in p.message and "'two'" in p.message


def test_two_stores_are_refused(run: dict[str, Any]) -> None:
    run["spec"]["store"]["s3"] = {"bucket": "results"}
    p = only(problems(run))
    assert p.field == "spec.store"
    assert p.message == "choose exactly one store: s3 or local"


def test_an_agent_is_exactly_one_kind(run: dict[str, Any]) -> None:
    run["spec"]["agents"][1]["image"] = "example.com/agent:1"
    p = only(problems(run))
    assert p.field == "spec.agents[1]"
    assert "exactly one of" in p.message


def test_replay_needs_its_trajectory(run: dict[str, Any]) -> None:
    run["spec"]["agents"][0]["builtin"] = "replay"
    p = only(problems(run))
    assert p.field == "spec.agents[0].replayPath"


def test_tasks_are_chosen_one_way(run: dict[str, Any]) -> None:
    run["spec"]["tasks"]["suite"] = "mlgym-bench"
    assert only(problems(run)).field == "spec.tasks"


def test_negative_budget_is_refused(run: dict[str, Any]) -> None:
    run["spec"]["budgetUsd"] = -1
    assert only(problems(run)).field == "spec.budgetUsd"


def test_baseline_scores_must_name_metrics(task: dict[str, Any]) -> None:
    task["spec"]["baselineScores"] = {"accuracy": 0.3}
    assert only(problems(task)).field == "spec.baselineScores"


def test_names_must_be_dns_labels(run: dict[str, Any]) -> None:
    run["metadata"]["name"] = "My_Run"
    p = only(problems(run))
    assert p.field == "metadata.name"
    assert p.hint is not None and "lowercase" in p.hint


def test_a_bad_quantity_is_refused(task: dict[str, Any]) -> None:
    task["spec"]["resources"] = {"memory": "lots"}
    assert only(problems(task)).field == "spec.resources.memory"


def test_every_problem_of_a_file_is_reported_at_its_line(
    task: dict[str, Any], run: dict[str, Any]
) -> None:
    run["spec"]["seeds"] = 0
    run["spec"]["store"]["s3"] = {"bucket": "results"}
    text = dump(task, run)
    found = documents.check_run_file(text, "run.yaml")[1]
    assert sorted(p.field for p in found) == ["spec.seeds", "spec.store"]
    lines = text.splitlines()
    for p in found:
        assert p.line is not None
        key = p.field.rsplit(".", 1)[-1]
        assert lines[p.line - 1].strip().startswith(f"{key}:"), (p, lines[p.line - 1])
        assert str(p).startswith(f"run.yaml:{p.line}: BenchmarkRun/demo: {p.field}: ")


def test_unknown_kind_and_api_version(task: dict[str, Any], run: dict[str, Any]) -> None:
    task["kind"] = "Tusk"
    run["apiVersion"] = "kubegym.io/v1"
    found = problems(task, run)
    assert [p.field for p in found] == ["kind", "apiVersion"]
    assert "unknown kind 'Tusk'" in found[0].message
    assert "kubegym.io/v1alpha1" in found[1].message


def test_duplicate_names_are_refused(task: dict[str, Any]) -> None:
    p = only(problems(task, task))
    assert "a second Task named 'toy'" in p.message


def test_broken_yaml_names_the_line() -> None:
    found = documents.check_run_file("kind: Task\nspec: [1, 2\n", "run.yaml")[1]
    assert len(found) == 1
    assert found[0].message.startswith("not valid YAML")
    assert found[0].line is not None


def test_a_document_must_be_a_mapping() -> None:
    p = only(documents.check_run_file("- 1\n- 2\n", "run.yaml")[1])
    assert "mapping" in p.message


def test_parse_raises_one_error_listing_every_problem(run: dict[str, Any]) -> None:
    run["spec"]["seeds"] = 0
    run["spec"]["parallelism"] = 0
    with pytest.raises(documents.RunFileError) as info:
        documents.parse_run_file(dump(run), "run.yaml")
    assert len(info.value.problems) == 2
    assert "2 problem(s)" in str(info.value)


def test_run_needs_exactly_one_benchmark_run(task: dict[str, Any]) -> None:
    run_file = documents.parse_run_file(dump(task))
    with pytest.raises(documents.ConfigError, match="exactly one BenchmarkRun"):
        _ = run_file.run


def test_empty_documents_are_skipped(task: dict[str, Any]) -> None:
    text = "---\n" + dump(task) + "---\n"
    assert len(documents.parse_run_file(text).tasks) == 1
