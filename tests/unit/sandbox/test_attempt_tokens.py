"""An attempt's tokens derived from its run's key (`kubegym.sandbox.tokens`): one per server and
attempt, unguessable without the key, written by the pods' init container as files that hold
exactly the token, and refused when the key is too short."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kubegym.sandbox import tokens

KEY = secrets.token_urlsafe(32).encode()


def test_every_server_and_attempt_gets_its_own_token() -> None:
    made = {
        (role, ns, trial, attempt): tokens.derive(KEY, role, ns, trial, attempt)
        for role in tokens.ROLES
        for ns in ("team-a", "team-b")
        for trial in ("run-t-s0-aaaa", "run-t-s1-bbbb")
        for attempt in (0, 1)
    }
    assert len(set(made.values())) == len(made)
    # the same inputs give the same token: both pods of the attempt derive the same one
    assert (
        tokens.derive(KEY, "sandbox", "team-a", "run-t-s0-aaaa", 0)
        == made[("sandbox", "team-a", "run-t-s0-aaaa", 0)]
    )
    # another run's key, another token
    other = secrets.token_urlsafe(32).encode()
    assert tokens.derive(other, "sandbox", "team-a", "run-t-s0-aaaa", 0) not in made.values()


def test_fields_cannot_be_shifted_into_each_other() -> None:
    # "a-b" + "0" and "a" + "-b0" must not collide: the fields are NUL-separated
    assert tokens.derive(KEY, "sandbox", "ns", "t1", 10) != tokens.derive(
        KEY, "sandbox", "ns", "t11", 0
    )
    assert tokens.derive(KEY, "sandbox", "n", "st", 0) != tokens.derive(
        KEY, "sandbox", "ns", "t", 0
    )


def test_a_short_key_or_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="bytes"):
        tokens.derive(b"short", "sandbox", "ns", "t", 0)
    with pytest.raises(ValueError, match="role"):
        tokens.derive(KEY, "admin", "ns", "t", 0)  # type: ignore[arg-type]


def test_the_init_container_writes_the_tokens_and_config_readable_by_the_pods_uid_only(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY.decode() + "\n")  # a Secret volume's file; whitespace ignored
    out = tmp_path / "out"
    config = '{"trial": "t"}'
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubegym.sandbox.tokens",
            *("--key-file", str(key_file), "--namespace", "ns", "--trial", "t"),
            *("--attempt", "2", "--out", f"sandbox={out}/s/token"),
            *("--out", f"evaluator={out}/e/token"),
            *("--config-env", "KUBEGYM_TRIAL_JSON", "--config-out", f"{out}/e/trial.json"),
        ],
        env={**os.environ, "KUBEGYM_TRIAL_JSON": config},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "s" / "token").read_text() == tokens.derive(KEY, "sandbox", "ns", "t", 2)
    assert (out / "e" / "token").read_text() == tokens.derive(KEY, "evaluator", "ns", "t", 2)
    assert (out / "e" / "trial.json").read_text() == config
    for path in (out / "s" / "token", out / "e" / "token"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o440
    assert not list(out.rglob(".*.partial"))


def test_a_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubegym.sandbox.tokens",
            *("--key-file", str(tmp_path / "absent"), "--namespace", "ns", "--trial", "t"),
            *("--attempt", "0", "--out", f"sandbox={tmp_path}/token"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "absent" in result.stderr and not (tmp_path / "token").exists()
