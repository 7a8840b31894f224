"""The cifar10 task and its offline proxy, cifar10-proxy.

cifar10 reads the original CIFAR-10 archive (`cifar-10-python.tar.gz`), which
cannot be had offline: these tests check that preparing it offline fails with
an error that says what to do, and run its real preparation code, its
evaluation and its baseline on a tiny archive of the same layout, generated
here (five training batches and a test batch of pickled dicts, pixels stored as
red, green and blue planes).

cifar10-proxy is a synthetic stand-in with its own baseline (0.3382 at budget
1; 0.2006 at the CI budget of 0.1), never comparable with CIFAR-10 numbers.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from kubegym.cli import main
from kubegym.errors import ConfigError
from kubegym.evaluator import scorer
from kubegym.local import baselines
from kubegym.tasks import catalog, checksums, datasets, preparation, venvs
from tests.tasks.conftest import TASK_IMAGES, baseline, bundle, score_file

TASK, PROXY = "cifar10", "cifar10-proxy"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
PER_BATCH, TEST = 60, 100  # the tiny archive: 300 training images, 100 test images


def _labels(path: Path) -> np.ndarray:
    return np.loadtxt(path, dtype=np.int64, skiprows=1)


def _prepare_and_hash(task: catalog.TaskBundle, *, force: bool = True) -> dict[str, str]:
    """Prepare ``task`` (once) and return the sha256 of every file its datasets name, by path."""
    root = preparation.prepare(task, force=force)
    spec = task.task.spec
    sets = [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]
    return {d.path: checksums.sha256_of(root / d.path) for d in sets if d.path is not None}


def _pinned(task: catalog.TaskBundle) -> dict[str, str | None]:
    spec = task.task.spec
    sets = [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]
    return {d.path: d.sha256 for d in sets if d.path is not None}


# --- a tiny CIFAR-10 archive, in the original layout --------------------------------------


def _coded_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """CIFAR rows (N×3072: red, green, blue planes) that say their own label and orientation.

    Red is 10 + 20 × label everywhere, green is noise, blue is 7 × the row number:
    after decoding, an image that is mislabelled or transposed is easy to spot.
    """
    red = np.repeat((10 + 20 * labels)[:, None], 1024, axis=1)
    green = rng.integers(0, 256, size=(len(labels), 1024))
    blue = np.tile(np.repeat(7 * np.arange(32), 32), (len(labels), 1))
    return np.concatenate([red, green, blue], axis=1).astype(np.uint8)


def _batch(name: str, labels: np.ndarray, rng: np.random.Generator) -> bytes:
    # As the original, pickled with protocol 2; bytes keys, as Python 2 strings load.
    batch = {
        b"batch_label": name.encode(),
        b"labels": [int(v) for v in labels],
        b"data": _coded_images(labels, rng),
        b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


def make_archive(path: Path, seed: int = 0) -> Path:
    """A cifar-10-python.tar.gz with 5 × PER_BATCH training images and TEST test images."""
    rng = np.random.default_rng(seed)
    files = {
        f"data_batch_{i}": _batch(
            f"training batch {i} of 5", rng.integers(0, 10, size=PER_BATCH), rng
        )
        for i in range(1, 6)
    }
    files["test_batch"] = _batch("testing batch 1 of 1", rng.permutation(np.arange(TEST) % 10), rng)
    files["batches.meta"] = pickle.dumps(
        {b"num_cases_per_batch": PER_BATCH, b"label_names": [b"airplane"] * 10, b"num_vis": 3072},
        protocol=2,
    )
    files["readme.html"] = b"<html>a generated test archive</html>"
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def on_the_archive(tmp_path: Path) -> Iterator[catalog.TaskBundle]:
    """The cifar10 task, copied, its source pointed at a generated archive; its data removed after."""
    archive = make_archive(tmp_path / "cifar-10-python.tar.gz")
    folder = tmp_path / "tasks" / TASK
    shutil.copytree(TASK_IMAGES / TASK, folder)
    shutil.copytree(TASK_IMAGES / "families", tmp_path / "tasks" / "families")  # its includes
    doc = yaml.safe_load((folder / "task.yaml").read_text())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    doc["spec"]["preparation"]["sources"] = [
        {"name": "cifar10", "path": str(archive), "sha256": digest}
    ]
    (folder / "task.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    task = catalog.discover([tmp_path / "tasks"])[TASK]
    yield task
    root = preparation.prepared_root(task)
    for leftover in (root, root.with_name(root.name + ".partial")):
        shutil.rmtree(leftover, ignore_errors=True)
    root.with_suffix(".lock").unlink(missing_ok=True)


def _score(task: catalog.TaskBundle, submission: str, split: str, tmp_path: Path) -> scorer.Scoring:
    spec = task.task.spec
    workspace = tmp_path / f"scored-{split}"
    workspace.mkdir(exist_ok=True)
    (workspace / spec.evaluation.submission.path).write_text(submission)
    sets = spec.evaluation.test_data if split == "test" else spec.validation_data
    return scorer.score(
        spec.evaluation,
        task_dir=task.root,
        workspace=workspace,
        data={d.name: datasets.materialize(task, d) for d in sets},
        split=split,
        python=str(venvs.python(venvs.ensure(spec.environment.requirements))),
    )


# --- cifar10 ------------------------------------------------------------------------------


def test_both_tasks_validate() -> None:
    files = [str(TASK_IMAGES / name / "task.yaml") for name in (TASK, PROXY)]
    result = CliRunner().invoke(main, ["validate", *files])
    assert result.exit_code == 0, result.output


def test_offline_preparation_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> object:
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setenv("KUBEGYM_CACHE", str(tmp_path / "cache"))  # no download cached from before
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(ConfigError) as caught:
        preparation.prepare(bundle(TASK))
    error = caught.value
    assert f"cannot download dataset 'cifar10' from {CIFAR_URL}" in error.message
    assert error.hint is not None and "point `path:` at the copy" in error.hint


def test_the_real_preparation_reads_the_original_layout(
    on_the_archive: catalog.TaskBundle,
) -> None:
    first = _prepare_and_hash(on_the_archive, force=False)
    again = _prepare_and_hash(on_the_archive)
    assert first == again

    root = preparation.prepared_root(on_the_archive)
    train_x = np.load(root / "data" / "train_images.npy")
    train_y = np.load(root / "data" / "train_labels.npy")
    to_label = np.load(root / "data" / "test_images.npy")
    test, valid = _labels(root / "hidden" / "test.csv"), _labels(root / "hidden" / "validation.csv")
    assert train_x.shape == (270, 32, 32, 3) and train_x.dtype == np.uint8  # 10 % held out
    assert to_label.shape == (130, 32, 32, 3)
    assert ((test >= 0).sum(), (valid >= 0).sum()) == (TEST, 30)
    # Every image decodes upright (blue = 7 × row) and with its own label (red = 10 + 20 × label).
    rows = 7 * np.arange(32)[None, :, None]
    assert (train_x[..., 2] == rows).all() and (to_label[..., 2] == rows).all()
    assert (train_x[..., 0] == (10 + 20 * train_y)[:, None, None]).all()
    truth = np.where(test >= 0, test, valid)
    assert (to_label[..., 0] == (10 + 20 * truth)[:, None, None]).all()
    # The full variant (profile mlgym-bench): every training image, the held-out ones too,
    # and never a test image.
    full_x = np.load(root / "data" / "full" / "train_images.npy")
    full_y = np.load(root / "data" / "full" / "train_labels.npy")
    assert full_x.shape == (5 * PER_BATCH, 32, 32, 3) and full_y.shape == (5 * PER_BATCH,)
    assert (full_x[..., 0] == (10 + 20 * full_y)[:, None, None]).all()
    held_out = to_label[valid >= 0]
    assert sorted(map(bytes, full_x)) == sorted(map(bytes, np.concatenate([train_x, held_out])))


def test_the_baseline_and_evaluation_run_on_the_archive(
    on_the_archive: catalog.TaskBundle, tmp_path: Path
) -> None:
    results = baselines.run_baseline(on_the_archive, budget=1.0)  # 50 steps on 270 images
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None and 0.0 <= results.final["accuracy"] <= 1.0

    root = preparation.prepared_root(on_the_archive)
    test, valid = _labels(root / "hidden" / "test.csv"), _labels(root / "hidden" / "validation.csv")
    perfect = "label\n" + "".join(f"{v}\n" for v in np.where(test >= 0, test, valid))
    for split in ("validation", "test"):
        assert _score(on_the_archive, perfect, split, tmp_path).metrics == {"accuracy": 1.0}
    broken = _score(on_the_archive, "label\n1\n2\n", "test", tmp_path)
    assert broken.metrics is None
    assert broken.error is not None and "has 2 rows; it needs one label per image" in broken.error


# --- cifar10-proxy --------------------------------------------------------------------------


def test_the_proxy_is_labelled_as_one() -> None:
    spec = bundle(PROXY).task.spec
    assert "proxy for CIFAR-10" in spec.description
    assert "not comparable" in spec.description
    suite = yaml.safe_load((TASK_IMAGES / "suites" / "mlgym-bench.yaml").read_text())["tasks"]
    assert PROXY not in suite
    assert spec.baseline_score() != bundle(TASK).task.spec.baseline_score()


def test_the_proxy_data_is_reproducible() -> None:
    task = bundle(PROXY)
    first, again = _prepare_and_hash(task), _prepare_and_hash(task)
    assert first == again == _pinned(task)
    root = preparation.prepared_root(task)
    assert np.load(root / "data" / "train_images.npy", mmap_mode="r").shape == (22_500, 32, 32, 3)
    assert np.load(root / "data" / "test_images.npy", mmap_mode="r").shape == (7_500, 32, 32, 3)


def test_the_proxy_baseline_scores_in_range() -> None:
    results = baseline(PROXY, budget=0.1)
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None
    # 0.2006 here (chance is 0.1); 0.3382 at budget 1.
    assert 0.16 <= results.final["accuracy"] <= 0.25


def test_a_malformed_proxy_submission_is_an_eval_error(tmp_path: Path) -> None:
    submission = tmp_path / "submission.csv"
    submission.write_text("label\n" + "3\n" * 7_499 + "3.5\n")
    scoring = score_file(PROXY, submission, "test")
    assert scoring.metrics is None
    assert scoring.error is not None and "`label` must be an integer class" in scoring.error
