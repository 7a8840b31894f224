"""Store backends by URI scheme: a newcomer's backend plugs in with one registration, an
unknown scheme is a clear error, and each backend says what an agent pod needs to reach it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kubegym.api import runs
from kubegym.errors import ConfigError
from kubegym.store import backends, base, checksums, open_uri


class MemoryStore(base.Store):
    """A store in a dict, as a newcomer would write one: keys to bytes under a root."""

    buckets: dict[str, dict[str, bytes]] = {}  # noqa: RUF012 (one process-wide "server")

    def __init__(self, bucket: str, root: str) -> None:
        self.bucket = bucket
        self.root = root
        self.objects = MemoryStore.buckets.setdefault(bucket, {})

    @property
    def uri(self) -> str:
        return f"mem://{self.bucket}/{self.root}"

    def check(self) -> None:
        pass

    def _key(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        policy: base.WritePolicy = "once",
        mtime: float | None = None,
    ) -> base.PutOutcome:
        data = path.read_bytes()
        new = base.ObjectInfo(key, len(data), checksums.sha256_bytes(data), mtime)
        if not base.decide(self.stat(key), new, policy, self.uri_of(key)):
            return "unchanged"
        self.objects[self._key(key)] = data
        return "uploaded"

    def stat(self, key: str) -> base.ObjectInfo | None:
        data = self.objects.get(self._key(key))
        if data is None:
            return None
        return base.ObjectInfo(key, len(data), checksums.sha256_bytes(data), None)

    def list_keys(self, prefix: str = "") -> list[str]:
        start = self._key(prefix) if prefix else (f"{self.root}/" if self.root else "")
        cut = len(self.root) + 1 if self.root else 0
        return sorted(k[cut:] for k in self.objects if k.startswith(start))

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.objects[self._key(key)]
        except KeyError:
            raise FileNotFoundError(self.uri_of(key)) from None

    def _download_one(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.read_bytes(key))


class MemoryBackend:
    """``mem://BUCKET/ROOT``: reached by URI only (no field of ``spec.store`` names it)."""

    spec_field = None

    def from_spec(self, spec: runs.Store, options: backends.OpenOptions) -> base.Store:
        raise AssertionError("no spec names the memory store")

    def from_uri(self, uri: str, options: backends.OpenOptions) -> base.Store:
        parts = urlsplit(uri)
        return MemoryStore(parts.netloc, parts.path.strip("/"))

    def pod_access(self, spec: runs.Store) -> backends.PodAccess:
        return backends.PodAccess()


@pytest.fixture(autouse=True, scope="module")
def memory_backend() -> Iterator[None]:
    # The one registration a newcomer writes (at import, as kubegym's own backends do),
    # here for this module only.
    with backends.SCHEMES.added("mem", MemoryBackend()):
        yield


def test_a_newly_registered_backend_is_opened_by_its_scheme(tmp_path: Path) -> None:
    writer = open_uri("mem://bench/runs/demo")
    assert isinstance(writer, MemoryStore) and writer.uri == "mem://bench/runs/demo"
    (tmp_path / "results.json").write_text('{"score": 1}')
    assert writer.put_file("trials/t/results.json", tmp_path / "results.json") == "uploaded"

    reader = open_uri("mem://bench/runs")  # rooted one level up, as `kubegym report` may be
    assert reader.list_keys() == ["demo/trials/t/results.json"]
    assert reader.read_bytes("demo/trials/t/results.json") == b'{"score": 1}'
    assert "mem" in backends.SCHEMES and backends.for_uri("mem://x") is backends.SCHEMES["mem"]


def test_an_unknown_scheme_names_the_uri_and_the_known_schemes() -> None:
    with pytest.raises(ConfigError) as caught:
        open_uri("gs://bucket/run")
    text = str(caught.value)
    assert "'gs://bucket/run'" in text and "gs:// is not a store scheme" in text
    assert caught.value.hint is not None
    assert "file" in caught.value.hint and "s3" in caught.value.hint and "mem" in caught.value.hint


def test_paths_and_file_uris_are_folders(tmp_path: Path) -> None:
    assert backends.scheme_of(str(tmp_path)) == backends.scheme_of("relative/out") == "file"
    assert open_uri(f"file://{tmp_path}").uri == str(tmp_path.resolve())


def test_a_spec_opens_the_backend_of_the_field_it_sets() -> None:
    s3 = runs.Store(s3=runs.S3Store(bucket="bucket"))
    local = runs.Store(local=runs.LocalStore(path="out"))
    assert backends.for_spec(s3) is backends.SCHEMES["s3"]
    assert backends.for_spec(local) is backends.SCHEMES["file"]


def test_a_spec_no_backend_claims_names_the_field() -> None:
    nothing = runs.Store.model_construct(s3=None, local=None)  # past the model's own rule
    with pytest.raises(ConfigError) as caught:
        backends.for_spec(nothing)
    assert caught.value.field == "spec.store"


def test_s3_gives_the_agent_pod_the_secrets_two_keys_and_the_endpoints_port() -> None:
    spec = runs.Store(
        s3=runs.S3Store(bucket="bkt", endpoint="http://minio.store:9000", credentials_secret="c")
    )
    access = backends.for_spec(spec).pod_access(spec)
    assert access.env == (
        backends.SecretEnv("AWS_ACCESS_KEY_ID", "c", "AWS_ACCESS_KEY_ID"),
        backends.SecretEnv("AWS_SECRET_ACCESS_KEY", "c", "AWS_SECRET_ACCESS_KEY"),
    )
    assert access.ports == (9000,)


@pytest.mark.parametrize(
    ("endpoint", "port"),
    [(None, 443), ("https://s3.example", 443), ("http://minio", 80), ("http://m:9000", 9000)],
)
def test_s3_without_a_secret_gives_no_keys_but_still_its_port(
    endpoint: str | None, port: int
) -> None:
    spec = runs.Store(s3=runs.S3Store(bucket="bkt", endpoint=endpoint))
    access = backends.for_spec(spec).pod_access(spec)
    assert access.env == () and access.ports == (port,)


def test_a_folder_needs_nothing_in_the_agent_pod() -> None:
    spec = runs.Store(local=runs.LocalStore(path="out"))
    assert backends.for_spec(spec).pod_access(spec) == backends.PodAccess()
