"""Fixtures for the results index's tests: a real PostgreSQL per session, and an index on each database.

`index_url` is parametrised: every test that takes it runs on SQLite (a file in
the test's folder) and on PostgreSQL (a fresh database in the session's server).
The server is Debian's PostgreSQL (``make test`` installs it, TEST_DEBS):
``initdb`` into a temporary folder as a non-root user (``postgres`` when the tests
run as root), started with ``pg_ctl`` on a Unix socket only, stopped at the end.
Missing binaries fail the tests with what to install; they never skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubegym.devcluster.processes import free_port

DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL: its socket folder and port, and how to reach a database in it."""

    socket_dir: Path
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): "
            "`apt-get install postgresql` (make test installs it through TEST_DEBS)"
        )
    return Path(found[-1]).parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """Debian's PostgreSQL in a temporary folder, on a Unix socket, for the whole session."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="kubegym-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chmod(root, 0o755)
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    user = "kubegym"
    data, sockets, port = root / "data", root / "sockets", free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{args[0]} failed: {done.stdout}{done.stderr}")

    run("mkdir", str(sockets))
    run(str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8")
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(root / "server.log"),
        "-w",
        "-o",
        f"-k {sockets} -p {port} -c listen_addresses='' -c fsync=off",
        "start",
    )
    try:
        yield Postgres(sockets, port, user)
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _admin(server: Postgres, sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host=str(server.socket_dir),
        port=server.port,
        user=server.user,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(sql)


@pytest.fixture(params=DATABASES)
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty index: a SQLite file, or a fresh PostgreSQL database (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.sqlite'}"
        return
    server: Postgres = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(server, f"CREATE DATABASE {name}")
    try:
        yield server.url(name)
    finally:
        _admin(server, f"DROP DATABASE {name} WITH (FORCE)")
