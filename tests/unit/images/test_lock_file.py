"""The images lock: written and read back as typed entries, malformed ones refused by field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubegym import images
from kubegym.errors import ConfigError
from kubegym.images import _lock

DIGEST = "sha256:" + "ab" * 32
INPUTS = "sha256:" + "cd" * 32


def _lock_with(**images_: images.LockedImage) -> images.Lock:
    return images.Lock(version="0.1.0", images=images_)


def _entry(repository: str = "ghcr.io/kubegym/task-polyfit", **extra: object) -> images.LockedImage:
    return images.LockedImage.model_validate(
        {
            "repository": repository,
            "tag": "0.1.0",
            "digest": DIGEST,
            "oci": "oci:/cache/images/oci:task-polyfit:0.1.0",
            "inputs": INPUTS,
            **extra,
        }
    )


def test_a_written_lock_reads_back_the_same(tmp_path: Path) -> None:
    debian = images.DebianInfo(
        suite="bookworm",
        sources=["deb http://deb.debian.org/debian bookworm main"],
        packages={"python3": "3.11.2-1+b1"},
    )
    lock = _lock_with(**{"task-polyfit": _entry(seconds=3.5), "python-base": _entry(debian=debian)})
    path = _lock.write_lock(lock, tmp_path / "build" / "images.lock.yaml")
    text = path.read_text()
    assert text.startswith("# ")  # says what wrote it
    data = yaml.safe_load(text)
    # camelCase on disk like every kubegym file; one entry per image name.
    assert data["lockVersion"] == 1 and data["version"] == "0.1.0"
    assert data["images"]["task-polyfit"]["digest"] == DIGEST
    assert "seconds" not in data["images"]["python-base"]  # None is left out
    assert images.load_lock(path) == lock
    assert not list(path.parent.glob(".*partial"))


def test_an_entry_names_its_reference_and_its_path_in_another_registry() -> None:
    entry = _entry()
    assert entry.reference == "ghcr.io/kubegym/task-polyfit:0.1.0"
    assert entry.path == "kubegym/task-polyfit"
    assert _entry("localhost/kg/x").path == "kg/x"
    assert _entry("127.0.0.1:5000/kg/x").path == "kg/x"
    # No registry host: the whole repository is the path.
    assert _entry("kubegym/task-polyfit").path == "kubegym/task-polyfit"


def test_asking_for_an_image_the_lock_lacks_says_how_to_build_it() -> None:
    lock = _lock_with(**{"task-polyfit": _entry()})
    assert lock.image("task-polyfit").tag == "0.1.0"
    with pytest.raises(ConfigError, match="--only pause"):
        lock.image("pause")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"digest": "sha256:short"}, "images.task-polyfit.digest"),
        ({"inputs": "md5:00"}, "images.task-polyfit.inputs"),
        ({"unknown": 1}, "images.task-polyfit.unknown"),
    ],
)
def test_a_malformed_lock_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    path = _lock.write_lock(_lock_with(**{"task-polyfit": _entry()}), tmp_path / "lock.yaml")
    data = yaml.safe_load(path.read_text())
    data["images"]["task-polyfit"].update(change)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        images.load_lock(path)
    assert caught.value.field == field


def test_a_missing_or_unreadable_lock_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make node-images"):
        images.load_lock(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("images: [unclosed\n")
    with pytest.raises(ConfigError, match="not YAML"):
        images.load_lock(tmp_path / "bad.yaml")


def test_the_default_lock_is_in_the_ignored_build_folder(repo: Path) -> None:
    assert repo / "build" / "images.lock.yaml" == images.DEFAULT_LOCK
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert "build/" in ignored
