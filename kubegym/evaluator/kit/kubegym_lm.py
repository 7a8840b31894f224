"""kubegym_lm: the one protocol for language-model submissions, and the trusted side's checks on it.

Used by the language-modelling tasks (fineweb-lm, fineweb-proxy): their
``evaluate.py`` scores with `Judge`, their jailed ``adapter.py`` answers with
`handler`. Needs numpy on both sides (never torch: a torch adapter hands
`handler` its own `Output`). Lives beside ``kubegym_eval.py``, which carries
the frames.

Full logits are too big to ship (64 × 1024 × 50,304 float32 is 13 GB a batch),
so the jailed model sends a reduced reply and the trusted side checks it:

- ``{"op": "logprobs"}`` with ``x`` and ``y`` (B, T) int64 → (B, T) float32:
  the log-probability the model gives ``y[b, t]`` after ``x[b, :t + 1]``.
- ``{"op": "rows", "positions": [[b, t], …]}`` → (K, V) float32: the full
  log-softmax rows of the last ``logprobs`` request at those positions.

`Judge.score` asks for a batch's log-probabilities, then (positions drawn from
the operating system's randomness *after* the reply, so the model cannot know
them) full rows, and checks:

1. *normalisation*: every row's logsumexp is 0 and every log-probability ≤ 0;
2. *consistency*: each row's entry at the target equals the log-probability
   returned for that position;
3. *causality*: in a second jail (the probe; a fresh process that never saw
   the batch), one random position ``t`` per sequence keeps ``x[:t + 1]`` and
   gets random tokens after it; the probe's row at ``t`` and its
   log-probabilities before ``t`` must equal the model's. A model that peeks
   at the next token commits a row that depends on it; the probe, shown other
   tokens, cannot reproduce it. The second jail matters: a single process
   could remember the original batch and replay its answers.

A model that inflates a share ``f`` of its log-probabilities passes one
checked position with probability ``1 - f``; every batch checks
``Checks.rows`` positions and each probed batch one more per sequence.
Within a tolerance a model can shift each log-probability by at most that
tolerance (in nats), which bounds what cheating inside it can gain.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # mypy sees the kit as part of the kubegym package
    from kubegym.evaluator.kit import kubegym_eval
else:  # the scorer and the jail put the kit's folder on PYTHONPATH
    import kubegym_eval

Floats = npt.NDArray[np.float32]
Tokens = npt.NDArray[np.int64]

# Entries below this log-probability are compared as equal: -inf, -1e30 and -200 are all
# "never", and their float noise under bfloat16 says nothing about the model's bet.
_FLOOR = -50.0


class CheckFailed(Exception):
    """What the jailed model returned fails a check; the message names the check."""


@dataclass(frozen=True)
class Checks:
    """How hard `Judge` looks at each batch."""

    rows: int = 16
    """Random positions per batch whose full rows the model must show."""
    causal_share: float = 1.0
    """Share of batches probed for causality (the first always is): each costs one
    more forward pass of the batch's shape, in the probe's jail."""
    tolerance: float = 1e-3
    """Nats: a row's logsumexp from 0, and its target entry from the returned log-prob."""
    causal_tolerance: float = 1e-3
    """Nats: the probe's log-probabilities from the model's at the same prefix (float32
    on a CPU agrees to ~1e-6; bfloat16 on a GPU needs more)."""


# --- the trusted side ---------------------------------------------------------------


class Judge:
    """Scores batches through a jailed model and checks every reply (see the module docstring).

    Args:
        model: the jail that scores (started with the task's adapter).
        probe: a second jail of the same submission, asked only causality probes.
        vocab: the smallest vocabulary the rows must cover (the data's largest token + 1).
        checks: how many positions to check.
        timeout: seconds one request may take.
        seed: for tests only: a fixed seed instead of the operating system's randomness.
    """

    def __init__(
        self,
        model: kubegym_eval.Agent,
        probe: kubegym_eval.Agent,
        *,
        vocab: int,
        checks: Checks | None = None,
        timeout: float = 300.0,
        seed: int | None = None,
    ) -> None:
        self.model, self.probe, self.vocab = model, probe, vocab
        self.checks = checks or Checks()
        self.timeout = timeout
        self.rng = np.random.default_rng(secrets.randbits(128) if seed is None else seed)
        self.batches = 0
        self.rows_checked = 0
        self.causal_checked = 0

    def score(self, x: Tokens, y: Tokens) -> Floats:
        """The model's log-probabilities of ``y`` after ``x``, once every check held.

        Args:
            x: (B, T) input tokens.
            y: (B, T) targets: ``x`` shifted by one (the next token of the stream).

        Raises:
            CheckFailed: a reply failed the normalisation, consistency or causality check.
            kubegym_eval.AgentError: the model failed, broke the protocol or took too long.
        """
        x, y = np.ascontiguousarray(x, "<i8"), np.ascontiguousarray(y, "<i8")
        b, t = x.shape
        logp = self._logprobs(self.model, x, y, "the model")
        # Drawn only now: the reply above is committed before the model can know them.
        asked = np.stack(
            [self.rng.integers(0, b, self.checks.rows), self.rng.integers(0, t, self.checks.rows)],
            1,
        )
        probing = self.batches == 0 or self.rng.random() < self.checks.causal_share
        cut = self.rng.integers(0, max(t - 1, 1), b)  # y[:, t - 1] lies outside the sequence
        if probing:
            asked = np.concatenate([asked, np.stack([np.arange(b), cut], 1)])
        rows = self._rows(self.model, asked, len(asked), "the model")
        self._check_rows(rows, logp, y, asked)
        self.rows_checked += len(asked)
        if probing:
            self._check_causal(x, y, logp, cut, rows[-b:])
        self.batches += 1
        return logp

    def _logprobs(self, agent: kubegym_eval.Agent, x: Tokens, y: Tokens, who: str) -> Floats:
        _, arrays = agent.call(
            {"op": "logprobs"},
            [("<i8", x.shape, x.tobytes()), ("<i8", y.shape, y.tobytes())],
            timeout=self.timeout,
            doing="a forward pass",
        )
        logp = _only_array(arrays, "log-probabilities")
        if logp.shape != x.shape:
            raise CheckFailed(
                f"{who} returned log-probabilities of shape {logp.shape}; expected {x.shape}"
            )
        if not np.isfinite(logp).all():
            raise CheckFailed(
                f"normalisation check: {who} returned log-probabilities that are not finite"
            )
        worst = float(logp.max())
        if worst > self.checks.tolerance:
            raise CheckFailed(
                f"normalisation check: {who} returned a log-probability of {worst:.4g} > 0 "
                "(a probability above 1)"
            )
        return logp

    def _rows(self, agent: kubegym_eval.Agent, positions: Tokens, count: int, who: str) -> Floats:
        _, arrays = agent.call(
            {"op": "rows", "positions": positions.tolist()},
            timeout=self.timeout,
            doing="full rows of log-probabilities",
        )
        rows = _only_array(arrays, "rows")
        if rows.ndim != 2 or rows.shape[0] != count or rows.shape[1] < self.vocab:
            raise CheckFailed(
                f"{who} returned rows of shape {rows.shape}; expected ({count}, vocab >= {self.vocab})"
            )
        if np.isnan(rows).any() or np.isposinf(rows).any():
            raise CheckFailed(f"normalisation check: {who} returned rows holding NaN or +inf")
        return rows

    def _check_rows(self, rows: Floats, logp: Floats, y: Tokens, asked: Tokens) -> None:
        tolerance = self.checks.tolerance
        total = _logsumexp(rows)
        worst = int(np.argmax(np.abs(total)))
        if abs(float(total[worst])) > tolerance:
            b, t = asked[worst]
            raise CheckFailed(
                f"normalisation check: the row at sequence {b}, position {t} sums to "
                f"exp({float(total[worst]):.4g}), not 1 (tolerance {tolerance:g} nats)"
            )
        bs, ts = asked[:, 0], asked[:, 1]
        targets = y[bs, ts]
        if (targets >= rows.shape[1]).any():
            raise CheckFailed(
                f"the model's rows have {rows.shape[1]} entries; the data uses more tokens"
            )
        entry = rows[np.arange(len(asked)), targets].astype(np.float64)
        gap = np.abs(entry - logp[bs, ts])
        worst = int(np.argmax(gap))
        if float(gap[worst]) > tolerance:
            raise CheckFailed(
                f"consistency check: at sequence {bs[worst]}, position {ts[worst]} the model "
                f"returned log-probability {float(logp[bs[worst], ts[worst]]):.4g} for the target, "
                f"but its full row gives it {float(entry[worst]):.4g}"
            )

    def _check_causal(self, x: Tokens, y: Tokens, logp: Floats, cut: Tokens, rows: Floats) -> None:
        b = x.shape[0]
        stream = np.concatenate([x, y[:, -1:]], 1)
        changed = stream.copy()
        for i in range(b):
            tail = stream[i, cut[i] + 1 :]
            # Differ at cut + 1 for certain: the next token is what a peeking model reads.
            changed[i, cut[i] + 1 :] = (
                tail + self.rng.integers(1, self.vocab, tail.shape)
            ) % self.vocab
        x2, y2 = np.ascontiguousarray(changed[:, :-1]), np.ascontiguousarray(changed[:, 1:])
        logp2 = self._logprobs(self.probe, x2, y2, "the probe")
        positions = np.stack([np.arange(b), cut], 1)
        rows2 = self._rows(self.probe, positions, b, "the probe")
        tolerance = self.checks.causal_tolerance
        floor = np.float32(_FLOOR)
        gaps = np.abs(np.maximum(rows, floor) - np.maximum(rows2, floor)).max(axis=1)
        for i in range(b):
            before = np.abs(logp[i, : cut[i]] - logp2[i, : cut[i]])
            gap = max(float(gaps[i]), float(before.max()) if before.size else 0.0)
            if gap > tolerance:
                raise CheckFailed(
                    f"causality check: in sequence {i}, changing the tokens after position "
                    f"{cut[i]} changed the model's log-probabilities up to that position by "
                    f"{gap:.4g} nats (tolerance {tolerance:g}): the model reads later tokens"
                )
        self.causal_checked += b


def _only_array(arrays: kubegym_eval.Arrays, what: str) -> Floats:
    if len(arrays) != 1:
        raise CheckFailed(f"the model's reply holds {len(arrays)} arrays; expected its {what}")
    dtype, shape, raw = arrays[0]
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).astype(np.float32)


def _logsumexp(rows: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    wide = rows.astype(np.float64)
    peak = wide.max(axis=-1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        result: npt.NDArray[np.float64] = np.log(np.exp(wide - peak).sum(axis=-1)) + peak[..., 0]
    return result


def log_softmax(logits: npt.NDArray[Any]) -> Floats:
    """``logits`` → log-probabilities along the last axis, in float32 (computed in float64)."""
    wide = np.asarray(logits, np.float64)
    return (wide - _logsumexp(wide)[..., None]).astype(np.float32)


# --- the jailed side ----------------------------------------------------------------


class Output(Protocol):
    """One forward pass of the model, kept until the next: what `handler` asks of it."""

    def logprobs(self) -> Floats:
        """(B, T) log-probabilities of the targets."""
        ...

    def rows(self, positions: Tokens) -> Floats:
        """(K, V) log-softmax rows at ``positions`` ((K, 2) sequence, position)."""
        ...


class Logits:
    """An `Output` over full numpy logits (B, T, V): what a numpy model's forward returns."""

    def __init__(self, logits: npt.NDArray[Any], y: Tokens) -> None:
        self.logits = np.asarray(logits, np.float32)
        if self.logits.ndim != 3 or self.logits.shape[:2] != y.shape:
            raise kubegym_eval.Refusal(
                f"model.forward returned shape {self.logits.shape}; expected {(*y.shape, 'vocab')}"
            )
        if int(y.max(initial=0)) >= self.logits.shape[2]:
            raise kubegym_eval.Refusal(
                f"model.forward returned {self.logits.shape[2]} logits per position; the data "
                "uses more tokens"
            )
        self.y = y

    def logprobs(self) -> Floats:
        """Each position's target entry minus its row's logsumexp."""
        picked = np.take_along_axis(self.logits, self.y[..., None], axis=2)[..., 0]
        return (picked.astype(np.float64) - _logsumexp(self.logits)).astype(np.float32)

    def rows(self, positions: Tokens) -> Floats:
        """The log-softmax of the logits at ``positions``."""
        return log_softmax(self.logits[positions[:, 0], positions[:, 1]])


def handler(
    forward: Callable[[Tokens, Tokens], Output], name: str = "model.forward"
) -> kubegym_eval.Handler:
    """The adapter's request handler: ``forward(x, y)`` runs the agent's model.

    Args:
        forward: the model's forward pass as an `Output` (numpy: wrap its logits in `Logits`).
        name: what the agent knows ``forward`` as, for messages.
    """
    last: list[Output] = []

    def handle(
        header: dict[str, Any], arrays: kubegym_eval.Arrays
    ) -> tuple[dict[str, Any], kubegym_eval.Arrays]:
        op = header.get("op")
        if op == "logprobs":
            x, y = (_tokens(item) for item in arrays[:2])
            last.clear()
            try:
                out = forward(x, y)
                logp = np.ascontiguousarray(out.logprobs(), "<f4")
            except kubegym_eval.Refusal:
                raise
            except Exception as exc:  # anything the agent's code raises is the submission's fault
                raise kubegym_eval.Refusal(f"{name} failed: {type(exc).__name__}: {exc}") from None
            last.append(out)
            return {}, [("<f4", tuple(logp.shape), logp.tobytes())]
        if op == "rows" and last:
            positions = np.asarray(header.get("positions"), np.int64).reshape(-1, 2)
            try:
                rows = np.ascontiguousarray(last[0].rows(positions), "<f4")
            except Exception as exc:
                raise kubegym_eval.Refusal(
                    f"{name}'s rows failed: {type(exc).__name__}: {exc}"
                ) from None
            return {}, [("<f4", tuple(rows.shape), rows.tobytes())]
        raise kubegym_eval.Refusal(f"the adapter got a request it does not know: {op!r}")

    return handle


def _tokens(item: tuple[str, tuple[int, ...], bytes]) -> Tokens:
    dtype, shape, raw = item
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).astype(np.int64)
