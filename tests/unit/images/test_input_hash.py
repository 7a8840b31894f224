"""An image is rebuilt when what decides it changes, and skipped when nothing did.

The inputs of a Dockerfile build are its text, what its COPY lines take from the
context, its build arguments (not the commit) and the digests of what it starts
FROM; `why_build` turns the record of the last build and the state of the store
and the OCI layout into skip, restore or build (and why).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubegym import images
from kubegym.images import _inputs, _state

DOCKERFILE = """\
ARG BASE=python:3.11
FROM ${BASE}
ARG VERSION
ARG REVISION
COPY --chown=1000:1000 starter/ /workspace/
COPY tool.sh /usr/local/bin/tool
RUN echo built
LABEL version="${VERSION}" revision="${REVISION}"
"""


@pytest.fixture
def task(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    (root / "starter").mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "starter" / "baseline.py").write_text("print('baseline')\n")
    (root / "tool.sh").write_text("#!/bin/sh\n")
    (root / "evaluate.py").write_text("# not copied into the image\n")
    return root


def _build_of(root: Path, **args: str) -> images.Build:
    return images.Build(
        "task-x",
        "registry.example/task-x:0.1.0",
        root / "Dockerfile",
        root,
        {"VERSION": "0.1.0", "REVISION": "abc", **args},
        needs=("sandbox-base-cpu",),
    )


def _inputs_of(root: Path, base: str = "sha256:" + "1" * 64, **args: str) -> str:
    components = _inputs.of_dockerfile(_build_of(root, **args), {"sandbox-base-cpu": base})
    return _inputs.digest(components)


def test_what_the_image_holds_changes_the_hash(task: Path) -> None:
    before = _inputs_of(task)
    assert _inputs_of(task) == before  # stable
    (task / "starter" / "baseline.py").write_text("print('better')\n")
    after_edit = _inputs_of(task)
    assert after_edit != before
    (task / "starter" / "new.py").write_text("")
    after_new = _inputs_of(task)
    assert after_new != after_edit
    (task / "tool.sh").chmod(0o755)  # the executable bit is copied too
    assert _inputs_of(task) != after_new


def test_what_the_image_never_holds_leaves_the_hash(task: Path) -> None:
    before = _inputs_of(task)
    (task / "evaluate.py").write_text("# changed, still not copied\n")
    cache = task / "starter" / "__pycache__"
    cache.mkdir()
    (cache / "baseline.cpython-311.pyc").write_bytes(b"\0")
    (task / "starter" / "stale.pyc").write_bytes(b"\0")
    # The commit is only a label: a new commit alone rebuilds nothing.
    assert _inputs_of(task, REVISION="def") == before


def test_the_version_the_base_and_the_dockerfile_change_the_hash(task: Path) -> None:
    before = _inputs_of(task)
    assert _inputs_of(task, VERSION="0.2.0") != before
    assert _inputs_of(task, base="sha256:" + "2" * 64) != before
    (task / "Dockerfile").write_text(DOCKERFILE + "USER 1000:1000\n")
    assert _inputs_of(task) != before


def test_a_symlink_counts_by_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.py").write_text("x = 1\n")
    (tmp_path / "link").symlink_to("real")
    assert _inputs.tree_digest(tmp_path / "link") == "link:real"
    with_link = _inputs.tree_digest(tmp_path)
    (tmp_path / "link").unlink()
    (tmp_path / "link").symlink_to("elsewhere")
    assert _inputs.tree_digest(tmp_path) != with_link


def test_changed_names_the_components_that_differ(task: Path) -> None:
    old = _inputs.of_dockerfile(_build_of(task), {"sandbox-base-cpu": "sha256:1"})
    (task / "starter" / "baseline.py").write_text("print('better')\n")
    new = _inputs.of_dockerfile(_build_of(task, VERSION="9"), {"sandbox-base-cpu": "sha256:2"})
    assert _inputs.changed(old, new) == [
        "args:VERSION",
        "copied:starter/",
        "needs:sandbox-base-cpu",
    ]


def _decide(before: dict[str, object], **overrides: object) -> str | None:
    arguments: dict[str, object] = {
        "inputs": "sha256:in",
        "components": {"dockerfile": "d2"},
        "reference": "r/x:1",
        "in_layout": "sha256:out",
        "in_store": True,
        **overrides,
    }
    return _state.why_build(before, **arguments)  # type: ignore[arg-type]


LAST: dict[str, object] = {
    "inputs": "sha256:in",
    "components": {"dockerfile": "d1"},
    "reference": "r/x:1",
    "digest": "sha256:out",
}


def test_an_unchanged_image_in_the_store_and_the_layout_is_skipped() -> None:
    assert _decide(LAST) is None


def test_every_other_case_builds_or_restores_and_says_why() -> None:
    assert _decide({}) == "first build"
    assert _decide(LAST, force=True) == "forced"
    assert _decide(LAST, inputs="sha256:other") == "changed: dockerfile"
    assert _decide(LAST, reference="r/x:2", components=LAST["components"]) == "changed: reference"
    assert _decide(LAST, in_layout=None) == "not in the OCI layout"
    # Rebuilt in the layout by someone else: the record's digest is stale.
    assert _decide(LAST, in_layout="sha256:newer") == "not in the OCI layout"
    # A wiped store with the layout intact: the same image comes back from the layout.
    assert _decide(LAST, in_store=False) == "restore"


def test_every_dockerfile_build_of_the_plan_hashes(tmp_path: Path) -> None:
    """What each Dockerfile copies exists where the hash looks (data contexts are staged)."""
    builds = images.plan("0.1.0", builder="buildah")
    digests = {b.name: "sha256:" + "0" * 64 for b in builds}
    for build in builds:
        if build.dockerfile is None or build.data_of is not None:
            continue
        components = _inputs.of_dockerfile(build, digests)
        copied = components["copied"]
        assert isinstance(copied, dict) and copied, build.name
        assert "absent" not in copied.values(), (build.name, copied)
    # A data build hashes its staged context the same way.
    data = next(b for b in builds if b.data_of == "polyfit")
    assert data.context is not None and data.dockerfile is not None
    staged = tmp_path / "polyfit-data"
    images.stage_data(images.task_bundles()["polyfit"], staged)
    moved = images.Build(data.name, data.reference, data.dockerfile, staged, data.build_args)
    components = _inputs.of_dockerfile(moved, {})
    copied = components["copied"]
    assert isinstance(copied, dict) and set(copied) == {"data/", "eval/"}
    shutil.rmtree(staged)
