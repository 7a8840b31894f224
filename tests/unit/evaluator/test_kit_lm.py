"""kubegym_lm's checks on what a jailed language model returns, against fake numpy models.

Each model is a ``model.py`` behind fineweb-proxy's adapter, run as the
by-hand path runs it (a child process speaking the real protocol): an honest
causal model passes and its log-probabilities are the exact log-softmax of its
logits; models that forge the reply (unnormalised rows, log-probabilities
their rows disagree with, a peek at the next token, a peek that remembers
batches to fool a probe in the same process) fail the check that names them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kubegym.evaluator import jails

sys.path.insert(0, str(jails.KIT_DIR))
import kubegym_eval
import kubegym_lm

ADAPTER = Path(__file__).resolve().parents[3] / "task_images" / "fineweb-proxy" / "adapter.py"
VOCAB, B, T = 64, 3, 32

# A causal bigram model: the row at t depends on x[t] only.
HONEST = """
import numpy as np
class Model:
    @classmethod
    def load(cls, folder):
        return cls()
    def forward(self, idx):
        table = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32) * 3
        return table[idx]
"""

# Reads the next token (x shifted): the "perfect" forbidden predictor.
PEEK = """
import numpy as np
class Model:
    @classmethod
    def load(cls, folder):
        return cls()
    def forward(self, idx):
        nxt = np.concatenate([idx[:, 1:], idx[:, -1:]], axis=1)
        out = np.zeros((*idx.shape, 64), np.float32)
        np.put_along_axis(out, nxt[..., None], 30.0, axis=2)
        return out
"""

# Peeks, and remembers every sequence it saw: shown a sequence that shares a prefix with a
# remembered one (a single-process causality probe), it replays the remembered future.
REMEMBERING_PEEK = """
import numpy as np
class Model:
    seen = []
    @classmethod
    def load(cls, folder):
        return cls()
    def forward(self, idx):
        idx = idx.copy()
        for row in idx:
            for old in self.seen:
                same = np.cumprod(old == row).sum()
                if same >= 1:
                    row[same:] = old[same:]
        self.seen.extend(idx.copy())
        nxt = np.concatenate([idx[:, 1:], idx[:, -1:]], axis=1)
        out = np.zeros((*idx.shape, 64), np.float32)
        np.put_along_axis(out, nxt[..., None], 30.0, axis=2)
        return out
"""

# Honest logits, but the model code patches the adapter's reply: every target gets log-prob 0.
FORGED_LOGPROBS = (
    HONEST
    + """
import kubegym_lm
kubegym_lm.Logits.logprobs = lambda self: np.zeros(self.y.shape, np.float32)
"""
)

# Forged log-probs and rows that agree with them: the target gets 0, everything else too.
FORGED_ROWS = (
    FORGED_LOGPROBS
    + """
kubegym_lm.Logits.rows = lambda self, positions: np.zeros((len(positions), 64), np.float32)
"""
)


def _model(tmp_path: Path, source: str, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.py").write_text(source)
    return folder


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    stream = np.random.default_rng(1).integers(0, VOCAB, B * T + 1)
    return stream[:-1].reshape(B, T), stream[1:].reshape(B, T)


def _agents(folder: Path) -> Iterator[kubegym_eval.Agent]:
    for _ in range(2):
        yield kubegym_eval.start(ADAPTER, folder, timeout=60, task_dir=ADAPTER.parent)


def _judge(folder: Path, **checks: float) -> kubegym_lm.Judge:
    model, probe = _agents(folder)
    return kubegym_lm.Judge(
        model,
        probe,
        vocab=VOCAB,
        checks=kubegym_lm.Checks(**checks),
        seed=7,  # type: ignore[arg-type]
    )


def test_an_honest_model_passes_and_its_logprobs_are_its_log_softmax(
    tmp_path: Path, batch: tuple[np.ndarray, np.ndarray]
) -> None:
    judge = _judge(_model(tmp_path, HONEST, "honest"))
    x, y = batch
    try:
        for _ in range(3):
            logp = judge.score(x, y)
    finally:
        judge.model.close()
        judge.probe.close()
    table = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32) * 3
    expected = kubegym_lm.log_softmax(table[x])
    assert np.allclose(logp, np.take_along_axis(expected, y[..., None], 2)[..., 0], atol=1e-5)
    assert judge.rows_checked == 3 * (16 + B)
    assert judge.causal_checked == 3 * B


@pytest.mark.parametrize(
    ("source", "check"),
    [
        (FORGED_LOGPROBS, "consistency check"),
        (FORGED_ROWS, "normalisation check"),
        (PEEK, "causality check"),
        (REMEMBERING_PEEK, "causality check"),
    ],
    ids=["forged-logprobs", "forged-rows", "peek", "remembering-peek"],
)
def test_a_forged_reply_fails_the_check_that_names_it(
    tmp_path: Path, batch: tuple[np.ndarray, np.ndarray], source: str, check: str
) -> None:
    judge = _judge(_model(tmp_path, source, "cheat"))
    try:
        with pytest.raises(kubegym_lm.CheckFailed, match=check):
            judge.score(*batch)
    finally:
        judge.model.close()
        judge.probe.close()


def test_the_remembering_peek_would_fool_a_probe_in_its_own_process(
    tmp_path: Path, batch: tuple[np.ndarray, np.ndarray]
) -> None:
    """Why the probe is a second jail: asked by the same process, the replay passes."""
    model = kubegym_eval.start(ADAPTER, _model(tmp_path, REMEMBERING_PEEK, "m"), timeout=60)
    try:
        judge = kubegym_lm.Judge(model, model, vocab=VOCAB, seed=7)
        logp = judge.score(*batch)
    finally:
        model.close()
    # Near-perfect wherever the next token is in the sequence: only the second jail refuses it.
    assert float(-logp[:, :-1].mean()) < 0.01


def test_a_positive_log_probability_is_refused_before_any_row(
    tmp_path: Path, batch: tuple[np.ndarray, np.ndarray]
) -> None:
    source = HONEST + (
        "import kubegym_lm\n"
        "kubegym_lm.Logits.logprobs = lambda self: np.full(self.y.shape, 0.5, np.float32)\n"
    )
    judge = _judge(_model(tmp_path, source, "over"))
    try:
        with pytest.raises(kubegym_lm.CheckFailed, match=r"normalisation check.*above 1"):
            judge.score(*batch)
    finally:
        judge.model.close()
        judge.probe.close()


def test_rows_narrower_than_the_data_are_refused(
    tmp_path: Path, batch: tuple[np.ndarray, np.ndarray]
) -> None:
    source = HONEST.replace("return table[idx]", "return table[idx][..., :32]")
    judge = _judge(_model(tmp_path, source, "narrow"))
    try:
        with pytest.raises(kubegym_eval.AgentError, match="logits per position"):
            judge.score(*batch)
    finally:
        judge.model.close()
        judge.probe.close()
