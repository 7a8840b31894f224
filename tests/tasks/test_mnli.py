"""The MNLI task: valid, offline preparation refused with a clear error, the real loader and the baseline on a fixture.

MultiNLI lives on the Hugging Face hub only, so these tests build a fixture in
the exact form kubegym's `huggingface` source leaves on disk (a DatasetDict
saved by `datasets.save_to_disk`: `dataset_dict.json`, one folder per split of
Arrow stream files with their `state.json`), from a few hundred generated
premise/hypothesis pairs whose label follows from their wording. The task's
real prepare.py reads it; the baseline (MiniLM embeddings + logistic
regression) runs on it through the sandbox and evaluator.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from kubegym.api import tasks
from kubegym.errors import ConfigError
from kubegym.evaluator import scorer
from kubegym.local import baselines
from kubegym.tasks import catalog, checksums, datasets, preparation, venvs
from tests.tasks.conftest import TASK_IMAGES, bundle

TASK = "mnli"
FOLDER = TASK_IMAGES / TASK

_PEOPLE = ["man", "woman", "child", "doctor", "farmer", "teacher", "pilot", "singer"]
_PLACES = ["park", "kitchen", "station", "market", "library", "garden", "harbour", "office"]
_ACTIONS = [
    ("reads", "a book"),
    ("paints", "a fence"),
    ("cooks", "some soup"),
    ("repairs", "a bicycle"),
    ("sells", "fresh bread"),
    ("carries", "a heavy box"),
]
_REASONS = ["for a friend", "before lunch", "for money", "to pass the time", "after work"]


def _pair(rng: random.Random, label: int) -> tuple[str, str]:
    """One generated pair whose label is fixed by how the hypothesis relates to the premise."""
    who, where, (verb, what) = rng.choice(_PEOPLE), rng.choice(_PLACES), rng.choice(_ACTIONS)
    premise = f"The {who} {verb} {what} in the {where}."
    if label == 0:
        hypothesis = rng.choice([f"A {who} {verb} {what}.", f"Someone is in the {where}."])
    elif label == 1:
        hypothesis = f"The {who} {verb} {what} {rng.choice(_REASONS)}."
    else:
        other = rng.choice([p for p in _PEOPLE if p != who])
        hypothesis = rng.choice(
            [f"Nobody is in the {where}.", f"The {who} never {verb} anything, only the {other}."]
        )
    return premise, hypothesis


def _rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        label = n % 3
        premise, hypothesis = _pair(rng, label)
        rows.append(
            {
                "promptID": n,
                "pairID": f"{n}{'enc'[label]}",
                "premise": premise,
                "hypothesis": hypothesis,
                "genre": rng.choice(["fiction", "government", "travel"]),
                "label": label,
            }
        )
    rows.append({**rows[0], "pairID": "unlabelled", "label": -1})  # dropped by prepare.py
    return rows


# Run in the preparation's venv (which has pyarrow): writes the rows as save_to_disk does.
_WRITE_ARROW = """
import json, sys
from pathlib import Path
import pyarrow as pa
root = Path(sys.argv[1])
splits = json.loads(Path(sys.argv[2]).read_text())
for split, rows in splits.items():
    folder = root / split
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    (folder / "state.json").write_text(json.dumps(
        {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": split}))
    (folder / "dataset_info.json").write_text(json.dumps({"dataset_name": "multi_nli"}))
(root / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
"""


@pytest.fixture(scope="module")
def fixture_task(tmp_path_factory: pytest.TempPathFactory) -> catalog.TaskBundle:
    """The mnli task with its hub source replaced by a generated save_to_disk folder."""
    real = bundle(TASK)
    spec = real.task.spec
    assert spec.preparation is not None
    folder = tmp_path_factory.mktemp("mnli-fixture")
    rows = folder / "rows.json"
    rows.write_text(
        json.dumps(
            {
                "train": _rows(450, seed=1),
                "validation_matched": _rows(60, seed=2),
                "validation_mismatched": _rows(60, seed=3),
            }
        )
    )
    venv = venvs.ensure([*spec.environment.requirements, *spec.preparation.requirements])
    saved = folder / "multi_nli"
    subprocess.run([str(venvs.python(venv)), "-c", _WRITE_ARROW, str(saved), str(rows)], check=True)
    source = tasks.Dataset(name="mnli", path=str(saved))
    preparing = spec.preparation.model_copy(update={"sources": [source]})
    task = real.task.model_copy(update={"spec": spec.model_copy(update={"preparation": preparing})})
    return catalog.TaskBundle(task, real.root)


def _score(task: catalog.TaskBundle, submission: Path, split: str) -> scorer.Scoring:
    spec = task.task.spec
    sets = spec.evaluation.test_data if split == "test" else spec.validation_data
    workspace = submission.parent / "scored-workspace"
    workspace.mkdir()
    (workspace / spec.evaluation.submission.path).write_bytes(submission.read_bytes())
    return scorer.score(
        spec.evaluation,
        task_dir=task.root,
        workspace=workspace,
        data={d.name: datasets.materialize(task, d) for d in sets},
        split=split,
        python=str(venvs.python(venvs.ensure(spec.environment.requirements))),
        env={"KUBEGYM_BUDGET": "1"},
    )


def test_offline_preparation_names_the_hub_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEGYM_CACHE", str(tmp_path))  # no cached copy of the hub's data
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConfigError) as caught:
        preparation.prepare(bundle(TASK), force=True)
    message = str(caught.value)
    assert "Hugging Face hub" in message
    assert "mnli" in message
    assert caught.value.hint  # says what to do: install `datasets` / reach the network


def test_preparation_reads_the_saved_dataset_reproducibly(fixture_task: catalog.TaskBundle) -> None:
    spec = fixture_task.task.spec
    sets = [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]
    local = [d for d in sets if d.path is not None]

    def hashes() -> dict[str, str]:
        root = preparation.prepare(fixture_task, force=True)
        return {d.path: checksums.sha256_of(root / d.path) for d in local}

    assert hashes() == hashes()
    root = preparation.prepared_root(fixture_task)
    train = [json.loads(line) for line in (root / "data" / "train.jsonl").open()]
    evaluation = [json.loads(line) for line in (root / "data" / "eval.jsonl").open()]
    valid = (root / "hidden" / "valid.csv").read_text().splitlines()
    test = (root / "hidden" / "test.csv").read_text().splitlines()
    # 450 labelled training pairs (the unlabelled one dropped), a tenth held out; 60 test pairs.
    assert (len(train), len(valid) - 1, len(test) - 1) == (405, 45, 60)
    assert len(evaluation) == 105 and sorted(r["id"] for r in evaluation) == list(range(105))
    assert set(train[0]) == {"id", "premise", "hypothesis", "genre", "label"}
    assert set(evaluation[0]) == {"id", "premise", "hypothesis"}
    assert valid[0] == test[0] == "id,label"
    # The full variant (profile mlgym-bench): the training pairs and the held-out ones, as
    # many as there are, so no test pair.
    full = [json.loads(line) for line in (root / "data" / "full" / "train.jsonl").open()]
    held = {int(row.split(",")[0]) for row in valid[1:]}
    kept = [(r["premise"], r["hypothesis"]) for r in train]
    kept += [(r["premise"], r["hypothesis"]) for r in evaluation if r["id"] in held]
    assert sorted((r["premise"], r["hypothesis"]) for r in full) == sorted(kept)
    assert len(full) == 450 and set(full[0]) == set(train[0])


def test_the_baseline_learns_the_fixture(fixture_task: catalog.TaskBundle) -> None:
    results = baselines.run_baseline(fixture_task, budget=0.001)
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None
    # Chance is 33 %; the labels follow from the wording, which MiniLM sees (97 % here).
    assert 85.0 <= results.final["accuracy"] <= 100.0


def test_a_broken_submission_is_refused(fixture_task: catalog.TaskBundle, tmp_path: Path) -> None:
    submission = tmp_path / "submission.csv"
    submission.write_text("id,label\n0,entailment\n")
    scoring = _score(fixture_task, submission, "test")
    assert scoring.metrics is None
    assert "label must be 0 (entailment), 1 (neutral) or 2 (contradiction)" in (scoring.error or "")

    (tmp_path / "short").mkdir()
    short = tmp_path / "short" / "submission.csv"
    short.write_text("id,label\n0,1\n")
    scoring = _score(fixture_task, short, "validation")
    assert "the submission has no label for" in (scoring.error or "")
