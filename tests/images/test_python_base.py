"""The Debian-built Python base stands in for python:3.11-slim-bookworm under our Dockerfiles.

A small Dockerfile FROM it (what the kubegym and sandbox Dockerfiles do first: a venv,
pip, the base's pip uninstalled, a user) is built with buildah into the shared store,
exported, unpacked and run with runc: ``python -c`` answers as that user.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kubegym import images
from kubegym.images import _build, _buildah, _oci

from .conftest import Runc, unpack, write_config

pytestmark = pytest.mark.images

DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
FROM ${PYTHON_IMAGE}
RUN python -m venv /opt/venv \\
    && /opt/venv/bin/python -m pip --version \\
    && python -m pip --version \\
    && apt-get --version > /dev/null \\
    && groupadd --gid 10001 probe \\
    && useradd --uid 10001 --gid 10001 --create-home probe \\
    && python -m pip uninstall --yes pip setuptools wheel
USER 10001:10001
"""
PROBE = (
    "import importlib.util, json, os, ssl, sys, venv\n"
    "print(json.dumps({'version': list(sys.version_info[:2]), 'uid': os.getuid(),"
    " 'executable': sys.executable, 'pip': importlib.util.find_spec('pip') is not None,"
    " 'venv_pip': os.path.exists('/opt/venv/bin/pip')}))"
)
#: Sources whose .pyc must be valid where they are: the standard library, and a package
#: pip installed during the build (in the venv).
COMPILED = (
    "usr/lib/python3.11/os.py",
    "opt/venv/lib/python3.11/site-packages/pip/__init__.py",
)


def _stale_pyc(rootfs: Path, source: str) -> str | None:
    """Why ``source``'s cached bytecode would be ignored at import; None when it is valid.

    A .pyc checked by mtime records its source's mtime: a layer that rewrote the
    mtimes (buildah's --timestamp) voids it and every import compiles again.
    """
    path = rootfs / source
    pyc = path.parent / "__pycache__" / f"{path.stem}.cpython-311.pyc"
    if not pyc.is_file():
        return f"no {pyc.name}"
    header = pyc.read_bytes()[:16]
    flags = int.from_bytes(header[4:8], "little")
    if flags & 1:
        return None  # checked by the source's hash
    recorded = int.from_bytes(header[8:12], "little")
    actual = int(path.stat().st_mtime) & 0xFFFFFFFF
    return None if recorded == actual else f"mtime {recorded} != {actual}"


def test_a_dockerfile_from_the_base_builds_and_runs_python(
    built: images.Lock, tmp_path: Path, runc: Runc
) -> None:
    base = built.image(images.PYTHON_BASE)
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    store = _buildah.storage(images.images_cache())
    reference = f"localhost/kubegym-test/python-probe:{tmp_path.name}"
    command = _buildah.bud_command(
        store,
        dockerfile=context / "Dockerfile",
        context=context,
        reference=reference,
        build_args={"PYTHON_IMAGE": base.reference},
        ca_folder=None,  # nothing is downloaded
    )
    # Under the cache's build lock: an `ensure` elsewhere prunes untagged images, such
    # as this build's steps while it runs.
    with _build.exclusive(images.images_cache()):
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
            layout = tmp_path / "oci"
            digest = _buildah.push_oci(store, reference, layout, "probe", tmp_path / "push.log")
        finally:
            subprocess.run(store.buildah("rmi", "--force", reference), capture_output=True)
    assert _oci.digest(layout, "probe") == digest
    probe = images.LockedImage(
        repository="localhost/kubegym-test/python-probe",
        tag="probe",
        digest=digest,
        oci=_oci.transport(layout, "probe"),
        inputs=digest,
    )
    config = unpack(probe, tmp_path / "bundle")
    config["process"]["args"] = ["python", "-c", PROBE]
    write_config(tmp_path / "bundle", config)
    done = runc.run(tmp_path / "bundle")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    for source in COMPILED:
        assert _stale_pyc(tmp_path / "bundle" / "rootfs", source) is None, source
    assert answer == {
        "version": [3, 11],
        "uid": 10001,
        "executable": "/usr/bin/python",  # python-is-python3: `python` on PATH
        "pip": False,  # uninstalled as the Dockerfiles do: nothing installs at run time
        "venv_pip": True,
    }


def test_the_bases_own_pip_is_compiled_for_its_file_times(
    built: images.Lock, tmp_path: Path
) -> None:
    unpack(built.image(images.PYTHON_BASE), tmp_path / "bundle")
    rootfs = tmp_path / "bundle" / "rootfs"
    for source in (
        "usr/lib/python3.11/os.py",
        "usr/local/lib/python3.11/dist-packages/pip/__init__.py",
    ):
        assert _stale_pyc(rootfs, source) is None, source


def test_the_lock_says_which_debian_packages_the_bases_hold(built: images.Lock) -> None:
    python = built.image(images.PYTHON_BASE).debian
    assert python is not None and python.suite == "bookworm"
    for package in ("python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd"):
        assert package in python.packages, package
    assert python.packages["python3"].startswith("3.11")
    assert any("bookworm-security" in name for name in python.releases)
    data = built.image(images.DATA_BASE).debian
    assert data is not None and set(data.packages) == {"busybox-static"}
