"""The store's trajectory cache: fetched once per version, bounded, least recently used out."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegym.viewer.trajectory_cache import TooLarge, TrajectoryCache


class Objects:
    """Objects by key, counting reads (what the store would answer)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.reads: list[str] = []

    def fetch(self, cache: TrajectoryCache, key: str, tag: str = "v1") -> str:
        def read() -> bytes:
            self.reads.append(key)
            return self.data[key]

        return cache.path(key, tag, lambda: len(self.data[key]), read)


def test_one_read_per_version(tmp_path: Path) -> None:
    objects = Objects()
    objects.data["a"] = b'{"step": 1}\n'
    cache = TrajectoryCache(tmp_path, max_bytes=1000)
    first = objects.fetch(cache, "a")
    assert Path(first).read_bytes() == b'{"step": 1}\n'
    assert objects.fetch(cache, "a") == first and objects.reads == ["a"]
    objects.data["a"] = b'{"step": 1}\n{"step": 2}\n'  # rewritten: a new tag
    second = objects.fetch(cache, "a", "v2")
    assert second != first and Path(second).read_bytes().count(b"\n") == 2
    assert objects.reads == ["a", "a"]


def test_least_recently_used_goes_first(tmp_path: Path) -> None:
    objects = Objects()
    for key in "abc":
        objects.data[key] = key.encode() * 400
    cache = TrajectoryCache(tmp_path, max_bytes=1000)
    a = objects.fetch(cache, "a")
    b = objects.fetch(cache, "b")
    objects.fetch(cache, "a")  # a is now the most recent
    objects.fetch(cache, "c")  # 1,200 bytes > 1,000: b goes
    assert Path(a).exists() and not Path(b).exists()
    assert cache.used == 800
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) == 800
    objects.fetch(cache, "b")
    assert objects.reads == ["a", "b", "c", "b"]


def test_an_object_larger_than_the_cache_is_refused_unread(tmp_path: Path) -> None:
    objects = Objects()
    objects.data["big"] = b"x" * 2000
    cache = TrajectoryCache(tmp_path, max_bytes=1000)
    with pytest.raises(TooLarge, match="2000 bytes"):
        objects.fetch(cache, "big")
    assert objects.reads == [] and list(tmp_path.iterdir()) == []


def test_files_left_from_before_are_removed(tmp_path: Path) -> None:
    (tmp_path / "0123.jsonl").write_text("old\n")
    TrajectoryCache(tmp_path)
    assert list(tmp_path.iterdir()) == []
