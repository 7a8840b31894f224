"""kubegym's KWOK stages write what the operator reads: the models' own messages, scores as the
Python twin computes them, and only for pods of a `kwok-scored…` Task.

The templates are Go; these tests read the YAML and check the parts Python can check without
KWOK (tests/cluster/test_kwok_stages.py runs them for real): the printf formats that build
the termination messages, the score's arithmetic and the selectors.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from kubegym.api import summary
from kubegym.devcluster import build, kwok_stages

TASK_SELECTOR = '.metadata.labels["kubegym.io/task"] | startswith("kwok-scored")'


def _stages() -> dict[str, Any]:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(kwok_stages.documents())}


def _message_format(stage: dict[str, Any]) -> str:
    """The printf format of the ``message:`` line in ``stage``'s template, as Go reads it."""
    template: str = stage["spec"]["next"]["statusTemplate"]
    found = re.search(r'message: \{\{ printf "((?:[^"\\]|\\.)*)"', template)
    assert found, "no message printf in the template"
    return found.group(1).replace('\\"', '"')


def _go_score(task: str, agent: str, seed: int) -> str:
    """The template's arithmetic: printf "%d.%d" (div n 10) (mod n 10)."""
    import zlib

    n = zlib.adler32(f"{task}/{agent}/{seed}".encode()) % 1000
    return f"{n // 10}.{n % 10}"


def test_every_stage_selects_only_scored_tasks_and_outweighs_kwoks_defaults() -> None:
    stages = _stages()
    assert set(stages) == {
        "kubegym-scored-pod-running",
        "kubegym-scored-evaluator-done",
        "kubegym-scored-agent-done",
    }
    for name, stage in stages.items():
        expressions = stage["spec"]["selector"]["matchExpressions"]
        assert {"key": TASK_SELECTOR, "operator": "In", "values": ["true"]} in expressions, name
        assert {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"} in expressions
        # KWOK's defaults have weight 0: with weight 1 only ours plays on our pods.
        assert stage["spec"]["weight"] == 1
    assert kwok_stages.TASK_PREFIX == "kwok-scored"
    assert kwok_stages.is_scored("kwok-scored-gpu-3") and not kwok_stages.is_scored("scale")
    with pytest.raises(ValueError, match="does not start with"):
        kwok_stages.task("scale")


def test_the_evaluators_record_is_the_models_own_message() -> None:
    fmt = _message_format(_stages()["kubegym-scored-evaluator-done"])
    for task, agent, seed in [("kwok-scored", "a", 0), ("kwok-scored-7", "agent-12", 14)]:
        value = _go_score(task, agent, seed)
        written = fmt.replace("%s", value)
        assert written == kwok_stages.evaluator_record(task, agent, seed).to_message()
        record = summary.EvaluatorRecord.from_message(written)
        assert record.final == {"score": kwok_stages.score(task, agent, seed)}
        assert record.submitted


def test_the_agents_summary_is_the_models_own_message() -> None:
    fmt = _message_format(_stages()["kubegym-scored-agent-done"])
    for task, agent, seed in [("kwok-scored", "a", 0), ("kwok-scored-x", "b", 3)]:
        written = fmt.replace("%s", _go_score(task, agent, seed))
        assert written == kwok_stages.trial_summary(task, agent, seed).to_message()
        assert summary.TrialSummary.from_message(written).exit == "submitted"


def test_the_templates_decimal_is_pythons_float_for_every_score() -> None:
    # The template prints n/10 as "%d.%d"; Python's repr of n / 10 must read the same,
    # or the messages would differ from the models' (and the scores from `score`).
    for n in range(1000):
        assert repr(n / 10) == f"{n // 10}.{n % 10}"


def test_an_edit_to_the_stages_changes_the_stamp() -> None:
    wanted = build._wanted()[build.KWOK_STAGES_FILE]
    assert wanted.endswith(kwok_stages.digest())


def _finished_run(
    agents: list[str], seeds: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """A run (and its Trials) exactly as the stages say it ends."""
    from kubegym.api import runs, tasks
    from kubegym.devcluster.kwok_stages import expected

    task = tasks.Task.model_validate(kwok_stages.task("kwok-scored-0"))
    spec = {
        "tasks": {"names": ["kwok-scored-0"]},
        "agents": [{"name": a, "builtin": "baseline"} for a in agents],
        "seeds": seeds,
    }
    board = expected.leaderboard([task], runs.BenchmarkRunSpec.model_validate(spec))
    total = len(agents) * seeds
    run = {
        "spec": spec,
        "status": {
            "phase": "Succeeded",
            "counters": {"total": total, "succeeded": total},
            "leaderboard": [s.model_dump(mode="json", by_alias=True) for s in board],
        },
    }
    members = [
        {
            "spec": {"run": "r", "task": "kwok-scored-0", "agent": a, "seed": s},
            "status": {"phase": "Succeeded", "score": kwok_stages.score("kwok-scored-0", a, s)},
        }
        for a in agents
        for s in range(seeds)
    ]
    return run, members, [task]


def test_a_run_as_the_stages_say_has_no_differences() -> None:
    from kubegym.devcluster.kwok_stages import expected

    run, members, chosen = _finished_run(["a", "b", "c"], 3)
    assert run["status"]["leaderboard"], "three agents on one task make a leaderboard"
    assert expected.differences(run, members, chosen) == []


def test_attack_a_lost_trial_a_wrong_score_a_retry_and_a_wrong_leaderboard_are_each_found() -> None:
    from kubegym.devcluster.kwok_stages import expected

    run, members, chosen = _finished_run(["a", "b", "c"], 3)
    lost = expected.differences(run, members[1:], chosen)
    assert any("1 trials missing" in line for line in lost)

    members[0]["status"]["score"] += 0.1
    members[1]["status"]["attempt"] = 1
    found = expected.differences(run, members, chosen)
    assert any("2 trials not as the stages say" in line for line in found), found

    run, members, chosen = _finished_run(["a", "b", "c"], 3)
    run["status"]["leaderboard"][0]["bestAttemptAup"] += 0.01
    run["status"]["counters"]["infraRetried"] = 1
    found = expected.differences(run, members, chosen)
    assert any(line.startswith("leaderboard differs") for line in found), found
    assert any(line.startswith("run counters") for line in found), found
