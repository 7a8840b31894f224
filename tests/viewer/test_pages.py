"""The viewer's API over real HTTP: keyset pages of trials, filters, facets, steps in pages."""

from __future__ import annotations

import json
from urllib.parse import quote

from kubegym.viewer import steps
from tests.support import synthetic_run
from tests.viewer.conftest import get, get_json


def test_every_trial_once_in_key_order_over_pages(
    base: str, generated: synthetic_run.SyntheticRun
) -> None:
    seen: list[dict[str, object]] = []
    cursor = ""
    while True:
        page = get_json(f"{base}/api/runs/generated/trials?limit=7&cursor={cursor}")
        assert len(page["trials"]) <= 7
        assert page["total"] == len(generated.trials) + len(generated.unfinished)
        seen.extend(page["trials"])
        if page["next"] is None:
            break
        cursor = page["next"]
    ids = [t["trial"] for t in seen]
    assert sorted(ids) == sorted(generated.trials + generated.unfinished)
    keys = [
        (t["task"] or "", t["agent"] or "", t["seed"] if t["seed"] is not None else -1, t["trial"])
        for t in seen
    ]
    assert keys == sorted(keys)


def test_filters_are_applied_by_the_server(base: str) -> None:
    facets = get_json(f"{base}/api/runs/generated/facets")["facets"]
    agent, count = facets["agent"][1]
    page = get_json(f"{base}/api/runs/generated/trials?agent={quote(agent)}&limit=500")
    assert page["total"] == count == len(page["trials"])
    assert {t["agent"] for t in page["trials"]} == {agent}
    infra = get_json(f"{base}/api/runs/generated/trials?failure_class=infra&seed=0&limit=500")
    assert all(t["failure_class"] == "infra" and t["seed"] == 0 for t in infra["trials"])


def test_a_bad_cursor_or_filter_is_a_clear_400(base: str) -> None:
    status, _, body = get(f"{base}/api/runs/generated/trials?cursor=bm90LWEta2V5")
    assert status == 400 and b"invalid cursor" in body
    status, _, body = get(f"{base}/api/runs/generated/trials?limit=many")
    assert status == 400 and b"limit" in body


def test_the_run_overview_has_leaderboard_profiles_and_tallies(
    base: str, generated: synthetic_run.SyntheticRun
) -> None:
    data = get_json(f"{base}/api/runs/generated")
    agents = {a["agent"] for a in data["leaderboard"]["agents"]}
    assert set(generated.agents) <= agents
    assert all(a["best_attempt_ci"] is not None for a in data["leaderboard"]["agents"])
    curves = data["profiles"]["curves"]["best_attempt"]
    assert set(generated.agents) <= set(curves)
    assert all(len(c) == len(data["profiles"]["tau"]) for c in curves.values())
    assert all(0.0 <= v <= 1.0 for c in curves.values() for v in c)
    assert sum(f["trials"] for f in data["failures"]) == len(generated.trials)
    assert {a["agent"] for a in data["spend"]} >= set(generated.agents)


def test_a_thousand_step_trial_comes_in_pages(
    base: str, generated: synthetic_run.SyntheticRun
) -> None:
    url = f"{base}/api/runs/generated/trials/{generated.long_trial}/steps"
    first = get_json(f"{url}?limit=50")
    assert first["total"] == 1000 and len(first["steps"]) == 50 and first["next"] == 50
    assert [s["step"] for s in first["steps"]] == list(range(1, 51))
    last = get_json(f"{url}?start=990&limit=50")
    assert [s["step"] for s in last["steps"]] == list(range(991, 1001)) and last["next"] is None


def test_a_page_parses_only_its_own_lines(
    generated: synthetic_run.SyntheticRun, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    path = str(generated.folder / "trials" / str(generated.long_trial) / "trajectory.jsonl")
    parsed: list[int] = []
    real = json.loads
    monkeypatch.setattr(steps.json, "loads", lambda raw: (parsed.append(len(raw)), real(raw))[1])
    index = steps.TrajectoryIndex()
    page = steps.read_page(index, path, 0, 20)
    assert len(page["steps"]) == 20 and len(parsed) == 20
    again = steps.read_page(index, path, 500, 20)
    assert [s["step"] for s in again["steps"]] == list(range(501, 521)) and len(parsed) == 40


def test_long_fields_are_cut_and_fetched_whole(
    base: str, generated: synthetic_run.SyntheticRun
) -> None:
    for trial in generated.trials:
        if not (generated.folder / "trials" / trial / "trajectory.jsonl").exists():
            continue  # an infrastructure failure before the first step
        url = f"{base}/api/runs/generated/trials/{trial}/steps"
        page = get_json(f"{url}?limit=200")
        cut = [s for s in page["steps"] if "observation" in s.get("truncated", [])]
        if cut:
            break
    else:
        raise AssertionError("the generated run has no step with a long observation")
    step = cut[0]
    assert len(step["observation"]) == steps.FIELD_LIMIT < step["lengths"]["observation"]
    full = get_json(f"{url}/{step['index']}?field=observation")
    assert full["length"] == step["lengths"]["observation"]
    assert len(full["text"]) == min(full["length"], steps.FULL_LIMIT)


def test_a_growing_trajectory_is_read_on(run_folder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "trajectory.jsonl"
    path.write_text(
        json.dumps({"step": 1, "action": "a", "observation": "o"}) + "\n" + '{"step": 2, "act'
    )
    index = steps.TrajectoryIndex()
    assert steps.read_page(index, str(path))["total"] == 1  # the half-written line waits
    with path.open("a") as f:
        f.write('ion": "b", "observation": "p"}\n')
    page = steps.read_page(index, str(path))
    assert page["total"] == 2 and page["steps"][1]["action"] == "b"


def test_pages_from_the_results_index_match_the_folder(
    generated: synthetic_run.SyntheticRun, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from kubegym import viewer

    url = f"sqlite:///{tmp_path / 'index.sqlite'}"
    folder, indexed = (
        viewer.open_catalog(str(generated.folder)),
        viewer.open_catalog(str(generated.folder), url),
    )
    for filters in (
        {},
        {"agent": generated.agents[1]},
        {"failure_class": "infra"},
        {"seed": "1"},
        {"exit_reason": "(running)"},  # not in the index: the folder's running trials
    ):
        walked: dict[str, list[str]] = {}
        totals: dict[str, int] = {}
        for name, source in (("folder", folder), ("index", indexed)):
            cursor, seen = None, []
            while True:
                page = source.trials("generated", cursor=cursor, limit=9, **filters)
                assert page is not None
                seen.extend(t["trial"] for t in page["trials"])
                totals[name] = page["total"]
                if page["next"] is None:
                    break
                cursor = page["next"]
            walked[name] = seen
        assert walked["index"] == walked["folder"] and walked["index"], filters
        assert totals["index"] == totals["folder"] == len(walked["index"]), filters
    assert set(generated.unfinished) <= set(walked["index"])
    facets = indexed.run("generated").facets()  # type: ignore[union-attr]
    assert dict(facets["exit_reason"]) == dict(
        folder.run("generated").facets()["exit_reason"]  # type: ignore[union-attr]
    )
    assert (
        dict(facets["agent"])[generated.agents[1]]
        == indexed.trials("generated", agent=generated.agents[1], limit=500)["total"]
    )  # type: ignore[index]
