"""The FineWeb language-modelling tasks: fineweb-lm (the real data, online) and fineweb-proxy (offline).

fineweb-proxy runs end to end here: its corpus is prepared from Debian's
documentation packages (reproducibly), its numpy baseline trains through the
sandbox and scores in a stated range, and broken submissions are eval_errors.
fineweb-lm needs the Hugging Face hub and a GPU: offline, its preparation must
stop with a clear ConfigError, and its evaluator must still reject malformed
submissions before it ever loads torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kubegym.errors import ConfigError
from kubegym.evaluator import scorer
from kubegym.tasks import checksums, preparation
from tests.tasks.conftest import TASK_IMAGES, baseline, bundle, prepared, score_file

needs_docs = pytest.mark.skipif(
    not Path("/usr/share/doc/python3.11/html/_sources").is_dir()
    or not Path("/usr/share/doc/linux-doc-6.1/Documentation").is_dir(),
    reason="fineweb-proxy needs the Debian packages python3.11-doc and linux-doc-6.1",
)


def _all_data(name: str) -> list:
    spec = bundle(name).task.spec
    return [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]


@pytest.mark.parametrize("name", ["fineweb-lm", "fineweb-proxy"])
def test_yaml_validates(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubegym", "validate", str(TASK_IMAGES / name / "task.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    spec = bundle(name).task.spec
    assert spec.evaluation.primary_metric == "val_loss"
    assert spec.evaluation.metric().direction == "min"


def test_proxy_is_labelled_and_not_mlgyms_number() -> None:
    task = bundle("fineweb-proxy").task
    assert "PROXY" in task.spec.description
    assert task.spec.baseline_score() != pytest.approx(4.672730922698975)
    assert bundle("fineweb-lm").task.spec.baseline_score() == pytest.approx(4.672730922698975)


@needs_docs
def test_proxy_preparation_is_reproducible() -> None:
    task = prepared("fineweb-proxy")
    # A forced run must give the very bytes the YAML pins (prepare checks them, and so do we).
    root = preparation.prepare(task, force=True)
    for dataset in _all_data("fineweb-proxy"):
        assert dataset.sha256 is not None
        assert checksums.sha256_of(root / dataset.path) == dataset.sha256, dataset.name
    # The shards are in the fineweb10B format: 256 int32 of header, then uint16 tokens.
    shard = root / "data" / "fineweb10B" / "fineweb_train_000001.bin"
    header = np.fromfile(shard, dtype=np.int32, count=256)
    assert (header[0], header[1]) == (20240520, 1)
    assert shard.stat().st_size == 256 * 4 + 2 * header[2]
    total = sum(
        int(np.fromfile(p, dtype=np.int32, count=3)[2])
        for p in (root / "data" / "fineweb10B").glob("fineweb_train_*.bin")
    )
    assert 8_000_000 < total < 11_000_000


@needs_docs
def test_proxy_baseline_scores_in_range() -> None:
    results = baseline("fineweb-proxy", budget=0.02)
    assert results.exit_reason == "submitted", results
    # 40 steps of the n-gram network from a unigram start: a little below the unigram loss.
    assert 6.6 < results.final["val_loss"] < 7.05, results.final


@needs_docs
def test_proxy_file_instead_of_folder_is_an_eval_error(tmp_path: Path) -> None:
    broken = tmp_path / "submission"
    broken.write_text("not a model\n")
    scoring = score_file("fineweb-proxy", broken, split="validation")
    assert not scoring.ok
    assert "must be a folder" in (scoring.error or "")


@needs_docs
def test_proxy_broken_weights_are_an_eval_error(tmp_path: Path) -> None:
    broken = tmp_path / "submission"
    broken.mkdir()
    (broken / "model.py").write_text((TASK_IMAGES / "fineweb-proxy/starter/model.py").read_text())
    (broken / "model_config.json").write_text("{}")
    (broken / "model.npz").write_bytes(b"PK\x03\x04 truncated")
    scoring = score_file("fineweb-proxy", broken, split="test")
    assert not scoring.ok
    assert "could not load the model" in (scoring.error or "")


@needs_docs
def test_proxy_non_causal_model_is_an_eval_error(tmp_path: Path) -> None:
    cheat = tmp_path / "submission"
    cheat.mkdir()
    (cheat / "model.py").write_text(
        "import numpy as np\n"
        "class Model:\n"
        "    @classmethod\n"
        "    def load(cls, folder):\n"
        "        return cls()\n"
        "    def forward(self, idx):\n"
        "        # peeks at the next token: a perfect, and forbidden, predictor\n"
        "        nxt = np.concatenate([idx[:, 1:], idx[:, -1:]], axis=1)\n"
        "        out = np.zeros((*idx.shape, 8192), np.float32)\n"
        "        np.put_along_axis(out, nxt[..., None], 50.0, axis=2)\n"
        "        return out\n"
    )
    scoring = score_file("fineweb-proxy", cheat, split="validation")
    assert not scoring.ok
    assert "causality check" in (scoring.error or ""), scoring.error


def test_real_task_offline_preparation_is_a_config_error() -> None:
    if os.environ.get("KUBEGYM_ONLINE"):
        pytest.skip("online: the real download would start")
    with pytest.raises(ConfigError, match="cannot download dataset"):
        preparation.prepare(bundle("fineweb-lm"), force=True)


def test_real_task_rejects_malformed_submissions_before_torch(tmp_path: Path) -> None:
    # A tiny shard of the right format stands in for the hidden tokens.
    shard = tmp_path / "tokens.bin"
    header = np.zeros(256, np.int32)
    header[:3] = (20240520, 1, 2048)
    shard.write_bytes(header.tobytes() + np.arange(2048, dtype=np.uint16).tobytes())
    spec = bundle("fineweb-lm").task.spec
    workspace = tmp_path / "workspace"
    (workspace / "submission").mkdir(parents=True)
    (workspace / "submission" / "model.pt").write_bytes(b"weights")
    scoring = scorer.score(
        spec.evaluation,
        task_dir=TASK_IMAGES / "fineweb-lm",
        workspace=workspace,
        data={"tokens": shard},
        split="test",
    )
    assert not scoring.ok
    assert "lacks model.py, model_config.pt" in (scoring.error or "")
