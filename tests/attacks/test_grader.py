"""Attacks on the grader (issue 11 points 1, 2 and the submission part of 8).

Each test plays a hostile submission against the real scorer: real evaluation
scripts, real bubblewrap jails, real processes. The guarantees: agent code the
evaluation runs sees no secret and no hidden data and writes nowhere on the
host; only the trusted evaluation writes the metrics; nothing agent code
starts outlives the scoring; a submission that is not a regular file is an
evaluation error, found quickly, never followed.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

from kubegym.evaluator import jails, scorer
from kubegym.tasks import datasets, venvs
from tests.tasks.conftest import TASK_IMAGES, bundle, prepared
from tests.tasks.test_fineweb import needs_docs

PD = "prisoners-dilemma"
CANARY = "sk-canary-" + uuid.uuid4().hex
ALWAYS_DEFECT = "def row_strategy(history):\n    return 1\n"


def _score(
    task: str,
    submission_source: str | None,
    tmp_path: Path,
    *,
    split: str = "test",
    budget: str = "0.01",
    jail_limits: jails.JailLimits | None = None,
    setup: object = None,
) -> scorer.Scoring:
    """Score ``submission_source`` (or what ``setup(path)`` lays out) as the task's artifact."""
    bundle = prepared(task)
    spec = bundle.task.spec
    workspace = tmp_path / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    artifact = workspace / spec.evaluation.submission.path
    if submission_source is not None:
        artifact.write_text(submission_source)
    if callable(setup):
        setup(artifact)
    sets = spec.evaluation.test_data if split == "test" else spec.validation_data
    return scorer.score(
        spec.evaluation,
        task_dir=bundle.root,
        workspace=workspace,
        data={d.name: datasets.materialize(bundle, d) for d in sets},
        split=split,
        python=str(venvs.python(venvs.ensure(spec.environment.requirements))),
        env={"KUBEGYM_BUDGET": budget},
        jail_limits=jail_limits,
    )


@pytest.fixture(scope="module")
def honest() -> float:
    """Always-defect's honest score on the test split at the attack budget."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        result = _score(PD, ALWAYS_DEFECT, Path(folder))
    assert result.metrics is not None, result.error
    return result.metrics["Score"]


def _hidden_paths(task: str) -> list[Path]:
    bundle = prepared(task)
    spec = bundle.task.spec
    return [
        datasets.materialize(bundle, d) for d in (*spec.validation_data, *spec.evaluation.test_data)
    ]


def test_a_strategy_reads_no_secret_no_script_and_no_hidden_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack 1: a strategy reads its parent's argv and environment, every process's
    environment, the evaluation script and both hidden split files, and reports what it
    found through its error. Guarantee: the canary key, the script and the hidden data
    are absent from the error (the agent's observation) and from its own workspace."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    hidden = _hidden_paths(PD)
    script = TASK_IMAGES / PD / "evaluate.py"
    source = f"""
import os
found = []
for pid in ['self', str(os.getppid()), '1'] + [p for p in os.listdir('/proc') if p.isdigit()]:
    for name in ('cmdline', 'environ'):
        try:
            found.append(open(f'/proc/{{pid}}/{{name}}', 'rb').read().decode(errors='replace'))
        except OSError as exc:
            found.append(repr(exc))
for path in {[str(p) for p in (*hidden, script)]!r}:
    try:
        found.append(open(path).read())
    except OSError as exc:
        found.append(repr(exc))
found.append(repr(dict(os.environ)))
open('loot.txt', 'w').write('\\n'.join(found))
raise RuntimeError(' | '.join(found)[-1200:] + ' ATTACK-RAN')
"""
    result = _score(PD, source, tmp_path)
    assert result.error is not None and "ATTACK-RAN" in result.error  # it did run
    assert CANARY not in result.error
    assert "OPENAI_API_KEY" not in result.error
    assert "column_move" not in result.error  # the evaluation script's text
    for path in hidden:
        assert str(path) not in result.error
        assert path.read_text()[:40] not in result.error
    assert not (tmp_path / "workspace" / "loot.txt").exists()


def test_a_daemon_holding_the_parents_stdout_cannot_forge_the_score(
    tmp_path: Path, honest: float
) -> None:
    """Attack 2: the strategy leaves a daemon that writes a perfect-score JSON line to
    /proc/<ppid>/fd/1, /proc/1/fd/1 and its own stdout and stderr, during and after the
    evaluation. Guarantee: the score equals always-defect's honest score, never 5.0."""
    source = """
import os, time
FAKE = b'{"Score": 5.0, "score_stderr": 0, "games": 1}\\n'
def spray():
    for _ in range(3):
        for path in ['/proc/%d/fd/1' % os.getppid(), '/proc/1/fd/1', '/dev/stdout']:
            try:
                with open(path, 'wb') as f: f.write(FAKE)
            except OSError: pass
        for fd in (1, 2):
            try: os.write(fd, FAKE)
            except OSError: pass
        time.sleep(0.2)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        spray(); os._exit(0)
    os._exit(0)
spray()
def row_strategy(history):
    return 1
"""
    result = _score(PD, source, tmp_path)
    assert result.metrics is not None, result.error
    assert result.metrics["Score"] == honest
    assert result.metrics["Score"] < 5.0


def test_an_atexit_print_cannot_forge_the_score(tmp_path: Path, honest: float) -> None:
    """Attack 2: the strategy registers atexit hooks that print fake metrics to stdout
    and stderr. Guarantee: the score is the honest one (stdout is no metrics channel)."""
    source = """
import atexit, os, sys
atexit.register(lambda: print('{"Score": 5.0}'))
atexit.register(lambda: os.write(1, b'{"Score": 5.0}\\n'))
def row_strategy(history):
    return 1
"""
    result = _score(PD, source, tmp_path)
    assert result.metrics is not None, result.error
    assert result.metrics["Score"] == honest


@needs_docs
def test_an_atexit_print_in_model_code_cannot_lower_val_loss(tmp_path: Path) -> None:
    """Attack 2 (fineweb-proxy): model code prints ``{"val_loss": 0.001}`` at exit and
    to its stdout and stderr. Guarantee: val_loss is the honest one (uniform
    logits over 8192 tokens: ln 8192), never 0.001."""

    def lay_out(folder: Path) -> None:
        folder.mkdir()
        (folder / "model.py").write_text(
            "import atexit, os\nimport numpy as np\n"
            "FAKE = b'{\"val_loss\": 0.001}\\n'\n"
            "atexit.register(lambda: print(FAKE.decode()))\n"
            "class Model:\n"
            "    @classmethod\n"
            "    def load(cls, folder):\n"
            "        for fd in (1, 2):\n"
            "            try: os.write(fd, FAKE)\n"
            "            except OSError: pass\n"
            "        return cls()\n"
            "    def forward(self, idx):\n"
            "        return np.zeros((*idx.shape, 8192), np.float32)\n"
        )

    result = _score("fineweb-proxy", None, tmp_path, split="validation", setup=lay_out)
    assert result.metrics is not None, result.error
    assert result.metrics["val_loss"] == pytest.approx(math.log(8192), rel=1e-6)


def test_a_strategy_writes_nothing_on_the_host(tmp_path: Path, honest: float) -> None:
    """Attack 1: the strategy writes into the trial's host workspace (to be read later
    from the sandbox), the task folder and /tmp on the host. Guarantee: none of those
    files exists after scoring, and the score is still the honest one."""
    marker = "pwned-" + uuid.uuid4().hex
    targets = [
        tmp_path / "workspace" / marker,
        TASK_IMAGES / PD / marker,
        Path("/tmp") / marker,
        Path.home() / marker,
    ]
    source = f"""
for path in {[str(p) for p in targets]!r}:
    try:
        open(path, 'w').write('x')
    except OSError:
        pass
def row_strategy(history):
    return 1
"""
    result = _score(PD, source, tmp_path)
    assert result.metrics is not None and result.metrics["Score"] == honest
    for path in targets:
        assert not path.exists(), path


def test_no_process_of_the_strategy_outlives_the_scoring(tmp_path: Path) -> None:
    """Attack 2: the strategy starts a detached process (its own session) that would
    run for an hour. Guarantee: when scoring returns, no such process exists."""
    marker = "kg-straggler-" + uuid.uuid4().hex
    source = f"""
import subprocess, sys
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)', {marker!r}],
                 start_new_session=True)
def row_strategy(history):
    return 1
"""
    result = _score(PD, source, tmp_path)
    assert result.metrics is not None, result.error
    running = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    running.append(entry.name)
            except OSError:
                pass
    assert running == []


def test_a_fifo_submission_is_an_eval_error_and_never_blocks(tmp_path: Path) -> None:
    """Attack 5/8: the submission path is a FIFO nobody writes. Guarantee: scoring
    returns an eval error naming the path instead of blocking on open."""
    results: list[scorer.Scoring] = []
    worker = threading.Thread(
        target=lambda: results.append(_score(PD, None, tmp_path, setup=lambda p: os.mkfifo(p))),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=120)  # a guard against a hang, not a timing claim
    assert results, "scoring blocked on the FIFO"
    assert results[0].metrics is None
    assert "strategy.py" in (results[0].error or "") and "FIFO" in (results[0].error or "")


def test_a_link_to_hidden_data_in_a_folder_submission_is_never_copied(tmp_path: Path) -> None:
    """Attack 8: a folder submission holds a symbolic link to another task's hidden
    answers. Guarantee: an eval error naming the link; the link is never followed."""
    other = _hidden_paths(PD)[-1]

    def lay_out(folder: Path) -> None:
        folder.mkdir()
        (folder / "model.py").write_text("class Model: pass\n")
        (folder / "answers.json").symlink_to(other)

    result = _score("fineweb-proxy", None, tmp_path, split="validation", setup=lay_out)
    assert result.metrics is None
    assert "submission/answers.json" in (result.error or "")
    assert "symbolic link" in (result.error or "")


def test_a_dangling_link_submission_is_an_eval_error(tmp_path: Path) -> None:
    """Attack 8: the submission is a link to nothing. Guarantee: an eval error (an
    agent failure with a reason), not a crash of the scorer."""
    result = _score(
        PD, None, tmp_path, setup=lambda p: p.symlink_to(tmp_path / "nowhere" / "strategy.py")
    )
    assert result.metrics is None and "symbolic link" in (result.error or "")


def test_a_fork_bomb_in_the_strategy_leaves_the_grader_intact(
    tmp_path: Path, honest: float
) -> None:
    """Attack 1 (resources): the strategy starts a fork bomb beside an honest strategy.
    Guarantee: the jail's pids limit holds it, no score but the honest one can come
    back, the jail is killed whole, and a second scoring right after works."""
    source = """
import os
if os.fork() == 0:
    while True:
        try:
            os.fork()
        except OSError:
            pass
def row_strategy(history):
    return 1
"""
    result = _score(PD, source, tmp_path)
    # The bomb may starve its own strategy past the move limit (its eval error), but it
    # never yields another score, and the grader scores the next submission as ever.
    assert result.metrics is None or result.metrics["Score"] == honest, result.error
    assert result.metrics is not None or "strategy" in (result.error or "")
    again = _score(PD, ALWAYS_DEFECT, tmp_path / "again")
    assert again.metrics is not None and again.metrics["Score"] == honest


def test_a_memory_hog_strategy_is_an_eval_error(tmp_path: Path) -> None:
    """Attack 1 (resources): the strategy allocates far past the jail's memory limit.
    Guarantee: an eval error (the strategy ended), no score, the grader goes on."""
    source = "blob = bytearray(1 << 30)\nfor i in range(0, len(blob), 4096): blob[i] = 1\n"
    source += ALWAYS_DEFECT
    result = _score(PD, source, tmp_path, jail_limits=jails.JailLimits(memory_bytes=200 << 20))
    assert result.metrics is None
    assert result.error is not None and "strategy" in result.error


def test_an_evaluation_never_runs_agent_code_unjailed_under_the_scorer(tmp_path: Path) -> None:
    """Attack 1: the evaluation is made to start agent code without the scorer's jail
    channel (as a submission might try by clearing it). Guarantee: kubegym_eval refuses
    while the metrics pipe is set: no unjailed start, an eval error."""
    task = tmp_path / "task"
    shutil.copytree(TASK_IMAGES / PD, task, ignore=shutil.ignore_patterns("hidden", "data"))
    (task / "evaluate.py").write_text(
        "import os, sys, kubegym_eval\n"
        "del os.environ['KUBEGYM_JAIL_FD']\n"
        "i = sys.argv.index('--submission')\n"
        "kubegym_eval.start(kubegym_eval.BUILTIN_CALL, sys.argv[i + 1],"
        " options={'function': 'row_strategy'})\n"
        "kubegym_eval.report({'Score': 5.0})\n"
    )
    bundle = prepared(PD)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "strategy.py").write_text(ALWAYS_DEFECT)
    result = scorer.score(
        bundle.task.spec.evaluation, task_dir=task, workspace=workspace, data={}, split="test"
    )
    assert result.metrics is None
    assert "refusing to run agent code unjailed" in (result.error or "")


def test_a_jail_never_gets_the_evaluation_script_or_hidden_data(tmp_path: Path) -> None:
    """Attack 1: an adapter request names the evaluation script and a hidden file as
    files to copy into the jail. Guarantee: the scorer refuses both (eval error)."""
    task = tmp_path / "task"
    shutil.copytree(TASK_IMAGES / PD, task)
    (task / "hidden").mkdir(exist_ok=True)
    (task / "hidden" / "answers.json").write_text("{}")
    (task / "evaluate.py").write_text(
        "import sys, kubegym_eval\n"
        "i = sys.argv.index('--submission')\n"
        "for f in ['evaluate.py', 'hidden/answers.json']:\n"
        "    try:\n"
        "        kubegym_eval.start(kubegym_eval.BUILTIN_CALL, sys.argv[i + 1], files=[f],"
        " options={'function': 'row_strategy'})\n"
        "    except kubegym_eval.AgentError as exc:\n"
        "        print('REFUSED', f, exc, file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "strategy.py").write_text(ALWAYS_DEFECT)
    bundle = prepared(PD)
    result = scorer.score(
        bundle.task.spec.evaluation,
        task_dir=task,
        workspace=workspace,
        data={"schedule": task / "hidden" / "answers.json"},
        split="test",
    )
    assert result.error is not None
    assert "REFUSED evaluate.py" in result.error and "REFUSED hidden/answers.json" in result.error
    assert "may not be shown to agent code" in result.error


@needs_docs
def test_model_code_finds_no_hidden_path_through_frames_or_argv(tmp_path: Path) -> None:
    """Attack 1 (fineweb-proxy): model code walks its callers' frames, sys.argv and
    every /proc/*/cmdline looking for the held-out shard's path. Guarantee: in the jail
    none of them names it (the old sys.argv hiding is moot)."""
    shard = _hidden_paths("fineweb-proxy")[0]

    def lay_out(folder: Path) -> None:
        folder.mkdir()
        (folder / "model.py").write_text(
            "import os, sys\n"
            "class Model:\n"
            "    @classmethod\n"
            "    def load(cls, folder):\n"
            "        seen = [repr(sys.argv)]\n"
            "        f = sys._getframe()\n"
            "        while f is not None:\n"
            "            seen.append(repr(f.f_locals)); f = f.f_back\n"
            "        for p in os.listdir('/proc'):\n"
            "            try: seen.append(open('/proc/%s/cmdline' % p).read())\n"
            "            except OSError: pass\n"
            "        raise RuntimeError(' '.join(seen)[-1200:] + ' ATTACK-RAN')\n"
        )

    result = _score("fineweb-proxy", None, tmp_path, split="validation", setup=lay_out)
    assert result.error is not None and "ATTACK-RAN" in result.error
    assert shard.name not in result.error and "tokens=" not in result.error


def test_spraying_every_descriptor_breaks_only_the_strategys_own_protocol(
    tmp_path: Path,
) -> None:
    """Attack 2: the strategy writes a perfect-score line to every descriptor 1..63 it
    holds (its own protocol pipe among them). Guarantee: no score of 5.0 ever comes
    back; the garbled protocol is the strategy's own eval error."""
    source = """
import os
for fd in range(1, 64):
    try: os.write(fd, b'{"Score": 5.0}\\n')
    except OSError: pass
def row_strategy(history):
    return 1
"""
    result = _score(PD, source, tmp_path)
    assert result.metrics is None
    assert "broke the protocol" in (result.error or "")


SAT_STARTER = (TASK_IMAGES / "3-sat" / "starter" / "heuristic.py").read_text()


def test_a_heuristic_that_zeroes_the_decision_count_gets_the_true_count(tmp_path: Path) -> None:
    """Attack 2 (3-SAT): the heuristic, running in the solver's process, resets the
    solver's decision counter on every call (through its caller's frame), so the jail
    reports 0 decisions. Guarantee: Decisions is the evaluation's own replay of the
    decisions, equal to the honest heuristic's count; the forgery gains nothing."""
    honest = _score("3-sat", SAT_STARTER, tmp_path / "honest", budget="0.05")
    assert honest.metrics is not None, honest.error
    forged = SAT_STARTER.replace(
        "def heuristic_fn(clauses, assignments, conflict_count, assignment_history, level):\n",
        "def heuristic_fn(clauses, assignments, conflict_count, assignment_history, level):\n"
        "    import sys\n"
        "    sys._getframe(1).f_locals['self'].num_decisions = -1\n",
    )
    assert forged != SAT_STARTER
    result = _score("3-sat", forged, tmp_path / "forged", budget="0.05")
    assert result.metrics is not None, result.error
    assert result.metrics["Decisions"] == honest.metrics["Decisions"] > 0


def test_a_heuristic_that_shortens_its_decision_trace_is_refused(tmp_path: Path) -> None:
    """Attack 2 (3-SAT): the heuristic also rewrites the trace the jail sends back (keeps
    only the last decision), so a replay would count one. Guarantee: the trace does not
    replay to the solver's answer, and the evaluation fails naming that; no score."""
    forged = SAT_STARTER.replace(
        "    return variable, value\n",
        "    import sys\n"
        "    solver = sys._getframe(1).f_locals['self']\n"
        "    if hasattr(solver, 'trace'):\n"
        "        del solver.trace[:]\n"
        "    return variable, value\n",
    )
    assert forged != SAT_STARTER
    result = _score("3-sat", forged, tmp_path, budget="0.05")
    assert result.metrics is None
    assert "do not replay" in (result.error or ""), result.error


def test_fineweb_lm_model_code_runs_only_in_the_jail(tmp_path: Path) -> None:
    """Attacks 1 and 2 (fineweb-lm, no torch here): model.py, imported as the real
    task's evaluation imports it, prints ``{"val_loss": 0.001}`` at import and at exit,
    and tries to read the hidden shard through its argv, its parents and the shard's
    path. Guarantee: no metric comes back (the jail, not the grader, imports the
    model; the grader never imports torch), and the shard's path and bytes stay out of
    the error the agent sees."""
    shard = tmp_path / "tokens.bin"
    header = np.zeros(256, np.int32)
    header[:3] = (20240520, 1, 70_000)
    tokens = np.random.default_rng(0).integers(0, 50257, 70_000).astype(np.uint16)
    shard.write_bytes(header.tobytes() + tokens.tobytes())
    workspace = tmp_path / "workspace"
    folder = workspace / "submission"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"weights")
    (folder / "model_config.pt").write_bytes(b"config")
    (folder / "model.py").write_text(
        "import atexit, os, sys\n"
        f"FAKE = '{{\"val_loss\": 0.001}}'\n"
        "print(FAKE); print(FAKE, file=sys.stderr)\n"
        "atexit.register(lambda: print(FAKE))\n"
        "seen = [repr(sys.argv)]\n"
        "for pid in ('self', str(os.getppid()), '1'):\n"
        "    try: seen.append(open(f'/proc/{pid}/cmdline').read())\n"
        "    except OSError: pass\n"
        f"try: seen.append(open({str(shard)!r}, 'rb').read(1500).hex())\n"
        "except OSError: pass\n"
        "print(' '.join(seen), file=sys.stderr)\n"
    )
    result = scorer.score(
        bundle("fineweb-lm").task.spec.evaluation,
        task_dir=TASK_IMAGES / "fineweb-lm",
        workspace=workspace,
        data={"tokens": shard},
        split="test",
        env={"KUBEGYM_BUDGET": "1"},
    )
    assert result.metrics is None
    assert "lacks torch" in (result.error or ""), result.error
    assert str(shard) not in (result.error or "")
    assert tokens.tobytes()[:64].hex() not in (result.error or "")


# A causal unigram-free model for fineweb-proxy: every row uniform over 8192 tokens.
_UNIFORM = (
    "import numpy as np\n"
    "class Model:\n"
    "    @classmethod\n"
    "    def load(cls, folder):\n"
    "        return cls()\n"
    "    def forward(self, idx):\n"
    "        return np.zeros((*idx.shape, 8192), np.float32)\n"
)


def _proxy_model(source: str) -> object:
    def lay_out(folder: Path) -> None:
        folder.mkdir()
        (folder / "model.py").write_text(source)

    return lay_out


@needs_docs
@pytest.mark.parametrize(
    ("patch", "check"),
    [
        (
            "kubegym_lm.Logits.logprobs = lambda self: np.zeros(self.y.shape, np.float32)\n",
            "consistency check",
        ),
        (
            "kubegym_lm.Logits.logprobs = lambda self: np.zeros(self.y.shape, np.float32)\n"
            "kubegym_lm.Logits.rows = lambda self, p: np.zeros((len(p), 8192), np.float32)\n",
            "normalisation check",
        ),
    ],
    ids=["inconsistent", "unnormalised"],
)
def test_model_code_that_rewrites_its_replies_gets_no_score(
    tmp_path: Path, patch: str, check: str
) -> None:
    """Attack 2 (fineweb-proxy, the shared kubegym_lm path): model code patches the
    adapter's reply in its own process so every target gets log-probability 0 (a loss
    of 0), with honest rows, or with rows of zeros to match. Guarantee: the evaluation
    fails naming the check (consistency, normalisation); no val_loss comes back."""
    source = _UNIFORM + "import kubegym_lm\n" + patch
    result = _score("fineweb-proxy", None, tmp_path, split="validation", setup=_proxy_model(source))
    assert result.metrics is None
    assert check in (result.error or ""), result.error


@needs_docs
def test_a_model_that_peeks_and_remembers_batches_fails_the_causality_probe(
    tmp_path: Path,
) -> None:
    """Attack 2 (fineweb-proxy): a model that reads the next token and remembers every
    sequence it saw, replaying the remembered future when a later request shares a
    prefix (what would pass a causality probe asked of the same process). Guarantee:
    the probe runs in a second jail that never saw the batch; the evaluation fails
    naming the causality check, with no val_loss."""
    source = (
        "import numpy as np\n"
        "class Model:\n"
        "    seen = []\n"
        "    @classmethod\n"
        "    def load(cls, folder):\n"
        "        return cls()\n"
        "    def forward(self, idx):\n"
        "        idx = idx.copy()\n"
        "        for row in idx:\n"
        "            for old in self.seen:\n"
        "                same = int(np.cumprod(old == row).sum())\n"
        "                if same >= 1:\n"
        "                    row[same:] = old[same:]\n"
        "        self.seen.extend(idx.copy())\n"
        "        nxt = np.concatenate([idx[:, 1:], idx[:, -1:]], axis=1)\n"
        "        out = np.zeros((*idx.shape, 8192), np.float32)\n"
        "        np.put_along_axis(out, nxt[..., None], 30.0, axis=2)\n"
        "        return out\n"
    )
    result = _score("fineweb-proxy", None, tmp_path, split="validation", setup=_proxy_model(source))
    assert result.metrics is None
    assert "causality check" in (result.error or ""), result.error
