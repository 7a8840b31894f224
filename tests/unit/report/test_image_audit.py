"""`kubegym audit` and `kubegym report` on a cluster run's images.json: digests listed per trial,
moved tags, digests other than the pinned one, and images named by tag flagged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kubegym.api import images as images_api
from kubegym.api.images import ImageRecord
from kubegym.api.trials import ImagesRollup, TrialImages
from kubegym.cli import main
from kubegym.index import sources
from kubegym.report import images, integrity, loading, sections, tables, trial_integrity

REGISTRY = "127.0.0.1:5100/kubegym"
TASK_TAG = f"{REGISTRY}/task-polyfit:0.1"
AGENT_TAG = f"{REGISTRY}/kubegym:0.1"
ONE = "sha256:79ec" + "1" * 60
TWO = "sha256:8f00" + "2" * 60
AGENT = "sha256:a9e7" + "3" * 60


def ran(container: str, image: str, digest: str | None, **fields: Any) -> ImageRecord:
    pod = "agent" if container == "agent" else "sandbox"
    repository = images_api.repository(image)
    return ImageRecord(
        pod=pod,
        container=container,
        image=image,
        digest=None if digest is None else f"{repository}@{digest}",
        **fields,
    )


def entry(
    trial: str, *records: ImageRecord, phase: str = "Succeeded", **fields: Any
) -> TrialImages:
    return TrialImages.model_validate(
        {
            "trial": trial,
            "task": "polyfit",
            "agent": "gpt",
            "seed": int(trial[-1]),
            "phase": phase,
            "images": [r.model_dump() for r in records],
            **fields,
        }
    )


def lay_out(out: Path, rollup: ImagesRollup, finished: list[str]) -> Path:
    """A cluster run as the store keeps it: <trial>/attempt-0/results.json, images.json on top."""
    for trial in finished:
        folder = out / trial / "attempt-0"
        folder.mkdir(parents=True)
        results = {"trial": trial, "task": "polyfit", "agent": "gpt", "seed": int(trial[-1])}
        (folder / "results.json").write_text(json.dumps({**results, "steps": 3, "scores": []}))
    (out / images.IMAGES_JSON).write_text(rollup.model_dump_json(by_alias=True))
    return out


def audit(out: Path) -> integrity.RunIntegrity:
    return integrity.audit_run(sources.LocalRunFolder(out), offline=lambda task: True)


def rules(report: integrity.RunIntegrity, trial: str) -> dict[str, trial_integrity.Flag]:
    (found,) = [t for t in report.trials if t.trial == trial]
    return {f.rule: f for f in found.flags}


def test_pinned_images_that_ran_their_digests_are_listed_and_not_flagged(tmp_path: Path) -> None:
    task_pin, agent_pin = f"{REGISTRY}/task-polyfit@{ONE}", f"{REGISTRY}/kubegym@{AGENT}"
    rollup = ImagesRollup(
        run="demo",
        trials=[
            entry(f"demo-s{n}", ran("agent", agent_pin, AGENT), ran("sandbox", task_pin, ONE))
            for n in (0, 1)
        ],
    )
    report = audit(lay_out(tmp_path / "demo", rollup, ["demo-s0", "demo-s1"]))
    assert report.flagged == [] and report.moved_images == {}
    assert [len(t.images) for t in report.trials] == [2, 2]
    assert report.trials[0].images[1]["digest"] == f"{REGISTRY}/task-polyfit@{ONE}"
    data = report.to_json()
    assert set(data["images"]) == {"demo-s0", "demo-s1"}
    assert data["summary"]["with_images"] == 2
    assert {r["name"] for r in data["rules"]} >= {
        "image-digest-mismatch",
        "image-tag-moved",
        "image-unpinned",
    }


def test_a_tag_that_moved_during_the_run_flags_the_trials_on_both_digests(tmp_path: Path) -> None:
    rollup = ImagesRollup(
        run="demo",
        trials=[
            entry("demo-s0", ran("sandbox", TASK_TAG, ONE), ran("workspace", TASK_TAG, ONE)),
            entry("demo-s1", ran("sandbox", TASK_TAG, TWO), ran("workspace", TASK_TAG, TWO)),
            entry("demo-s2", ran("agent", f"{REGISTRY}/kubegym@{AGENT}", AGENT)),
        ],
    )
    report = audit(lay_out(tmp_path / "demo", rollup, ["demo-s0", "demo-s1", "demo-s2"]))
    assert report.moved_images == {TASK_TAG: [ONE, TWO]}
    for trial, mine in (("demo-s0", ONE), ("demo-s1", TWO)):
        flags = rules(report, trial)
        assert flags["image-tag-moved"].severity == "medium"
        assert flags["image-tag-moved"].evidence.startswith(f"{TASK_TAG} ran as {mine[:19]}")
        # Named by tag: the warning comes too.
        assert flags["image-unpinned"].severity == "low"
        assert flags["image-unpinned"].evidence == TASK_TAG
    assert rules(report, "demo-s2") == {}
    # The CI gate at its default severity fails on a moved tag, not on tags alone.
    assert [t.trial for t in report.at_least("medium")] == ["demo-s0", "demo-s1"]


def test_a_container_that_ran_another_digest_than_its_pin_is_a_high_flag(tmp_path: Path) -> None:
    pin = f"{REGISTRY}/task-polyfit@{ONE}"
    note = f"named by digest {ONE}, but the runtime ran {TWO}"
    rollup = ImagesRollup(
        run="demo",
        trials=[entry("demo-s0", ran("evaluator", pin, ONE), ran("sandbox", pin, TWO, note=note))],
    )
    report = audit(lay_out(tmp_path / "demo", rollup, ["demo-s0"]))
    flag = rules(report, "demo-s0")["image-digest-mismatch"]
    assert flag.severity == "high" and note in flag.evidence
    assert report.trials[0].severity == "high"


def test_a_trial_whose_image_was_never_pulled_is_listed_without_results(tmp_path: Path) -> None:
    lost = entry(
        "demo-s1",
        ran("agent", AGENT_TAG, None, reason="ImagePullBackOff"),
        phase="Failed",
        exitReason="infra_error",
        failureClass="infra",
        attempt=3,
    )
    rollup = ImagesRollup(
        run="demo", trials=[entry("demo-s0", ran("agent", AGENT_TAG, AGENT)), lost]
    )
    out = lay_out(tmp_path / "demo", rollup, ["demo-s0"])
    report = audit(out)
    (missing,) = [t for t in report.trials if t.trial == "demo-s1"]
    assert (missing.exit_reason, missing.failure_class) == ("infra_error", "infra")
    assert missing.images[0]["digest"] is None
    assert missing.images[0]["reason"] == "ImagePullBackOff"
    # Printed per trial by `kubegym audit`.
    result = CliRunner().invoke(main, ["audit", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{AGENT_TAG} → not pulled (ImagePullBackOff)  [agent/agent]" in result.output
    assert f"{AGENT_TAG} → {REGISTRY}/kubegym@{AGENT}  [agent/agent]" in result.output
    as_json = json.loads(CliRunner().invoke(main, ["audit", str(out), "--json"]).output)
    assert as_json["images"]["demo-s1"][0]["reason"] == "ImagePullBackOff"


def test_a_broken_images_json_is_a_note_not_a_failure(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    lay_out(out, ImagesRollup(run="demo"), ["demo-s0"])
    (out / images.IMAGES_JSON).write_text('{"formatVersion": 1, "run": "demo", "trials": [{}]}')
    report = audit(out)
    assert [t.trial for t in report.trials] == ["demo-s0"]
    assert report.notes and report.notes[0].startswith(f"skipped {images.IMAGES_JSON}")


def test_a_local_run_has_no_images_and_no_image_flags(tiny_run: Path) -> None:
    report = audit(tiny_run)
    assert all(not t.images for t in report.trials)
    assert not any(f.rule.startswith("image-") for t in report.trials for f in t.flags)
    result = CliRunner().invoke(main, ["audit", str(tiny_run)])
    assert "Images (" not in result.output


def test_the_report_shows_an_images_table(tiny_run: Path) -> None:
    rollup = ImagesRollup(
        run="tiny",
        trials=[
            entry("tiny-acc-B-s0", ran("sandbox", TASK_TAG, ONE), ran("agent", AGENT_TAG, AGENT)),
            entry("tiny-acc-A-s0", ran("sandbox", TASK_TAG, TWO)),
        ],
    )
    (tiny_run / images.IMAGES_JSON).write_text(rollup.model_dump_json(by_alias=True))
    run = loading.load_run(sources.LocalRunFolder(tiny_run))
    assert run.integrity is not None
    table = tables.images(run.integrity)
    assert list(table["digest"]) == [
        f"{REGISTRY}/kubegym@{AGENT}",
        f"{REGISTRY}/task-polyfit@{ONE}",
        f"{REGISTRY}/task-polyfit@{TWO}",
    ]
    assert list(table["moved"]) == [False, True, True]
    assert not table["pinned"].any()
    keys = [t.key for t in sections.build_report(run, with_plots=False).tables]
    assert "images" in keys
