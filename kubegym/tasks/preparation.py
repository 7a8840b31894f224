"""Making a task's data: run its preparation script once per machine, check the sha256, cache it.

A task with a `preparation` step reads all its datasets inside the prepared
folder, ``<cache>/tasks/<task>/<key>``, where the key hashes the task's spec
and the script, so a change to either prepares again. `kubegym tasks prepare`
calls `prepare` directly; `kubegym.tasks.datasets` calls it on first use.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import structlog

from kubegym import cache
from kubegym.errors import ConfigError
from kubegym.tasks import checksums, sources, venvs
from kubegym.tasks.catalog import TaskBundle

_READY = ".kubegym-prepared"
log = structlog.get_logger()


def prepared_root(bundle: TaskBundle) -> Path:
    """Where ``bundle``'s prepared data lives (whether or not it is there yet)."""
    spec = bundle.task.spec
    assert spec.preparation is not None
    digest = hashlib.sha256(bundle.task.model_dump_json().encode())
    script = bundle.resolve(spec.preparation.script)
    # The script and every module beside it: a family's prepare.py is a short call into
    # the family's shared code, and a change there must prepare (hidden) data anew.
    for path in sorted({script, *script.parent.glob("*.py")}):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return cache.root() / "tasks" / bundle.name / digest.hexdigest()[:16]


def is_prepared(bundle: TaskBundle) -> bool:
    return bundle.task.spec.preparation is None or (prepared_root(bundle) / _READY).exists()


def prepare(bundle: TaskBundle, *, force: bool = False) -> Path:
    """Prepare ``bundle``'s data (once), check every dataset's sha256, return the folder.

    Raises:
        ConfigError: a source cannot be fetched, the script fails, or its output
            differs from the sha256 the task pins (the message lists the actual values).
    """
    spec = bundle.task.spec
    if spec.preparation is None:
        return bundle.root
    root = prepared_root(bundle)
    if (root / _READY).exists() and not force:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / _READY).exists() and not force:
            return root
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        _run_script(bundle, partial)
        _check(bundle, partial)
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
        (root / _READY).touch()
    log.info("task_prepared", task=bundle.name, path=str(root))
    return root


def _run_script(bundle: TaskBundle, out: Path) -> None:
    spec = bundle.task.spec
    prep = spec.preparation
    assert prep is not None
    inputs = {s.name: sources.fetch(bundle, s) for s in prep.sources}
    for source in prep.sources:
        checksums.check_sha256(
            bundle,
            f"source {source.name!r}",
            inputs[source.name],
            source.sha256,
            hint="the download changed or is corrupt",
        )
    venv = venvs.ensure([*spec.environment.requirements, *prep.requirements])
    argv = [str(venvs.python(venv)), str(bundle.resolve(prep.script)), "--out", str(out)]
    for name, path in sorted(inputs.items()):
        argv += ["--source", f"{name}={path}"]
    log.info("task_preparing", task=bundle.name, script=prep.script)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    try:
        result = subprocess.run(
            argv,
            cwd=bundle.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=prep.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"task {bundle.name}: preparing the data took longer than {prep.timeout_seconds} s"
        ) from None
    if result.returncode != 0:
        raise ConfigError(
            f"task {bundle.name}: the preparation script failed (exit status "
            f"{result.returncode}):\n{(result.stderr or result.stdout).strip()[-2000:]}"
        )


def _check(bundle: TaskBundle, out: Path) -> None:
    spec = bundle.task.spec
    wrong = []
    for dataset in [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]:
        if dataset.path is None:
            continue
        path = out / dataset.path
        if not path.exists():
            wrong.append(f"{dataset.name}: the script did not write {dataset.path}")
            continue
        actual = checksums.sha256_of(path)
        if dataset.sha256 is not None and actual != dataset.sha256:
            wrong.append(
                f"{dataset.name} ({dataset.path}): sha256 {actual}, pinned {dataset.sha256}"
            )
    if wrong:
        raise ConfigError(
            f"task {bundle.name}: the prepared data is not what the task pins:\n  "
            + "\n  ".join(wrong),
            hint="preparation must be deterministic; if the change is intended, pin the new sha256",
        )
