"""An attempt's two tokens, derived from its run's key: no Secret per trial.

The agent shows the sandbox token to its sandbox server and the evaluator token to
its evaluator; nothing else reaches them. Instead of a Secret written for every
attempt (one write and one delete per trial, at thousands of trials), the run has
one key (a Secret owned by the BenchmarkRun, `kubegym.operator.objects.run`), and
each token is an HMAC-SHA256 of the attempt's identity under that key:

    token = base64url(HMAC-SHA256(key, "kubegym-attempt-token/v1" NUL role NUL
                                       namespace NUL trial NUL attempt))

Only trusted code ever holds the key: the operator, and a ``credentials`` init
container in each pod (kubegym's own image or the task's, which runs kubegym's
evaluator) that derives its pod's tokens into a memory-backed emptyDir and exits
(`main`). No container that runs agent code mounts the key: the sandbox
container sees its sandbox token, the agent runner its two tokens. Knowing any
number of tokens tells nothing of the key (HMAC), so one trial's tokens never
open another trial's sandbox or evaluator — and with the run's NetworkPolicies
per run, the tokens are what tells the run's trials apart.

``python -m kubegym.sandbox.tokens --key-file K --namespace N --trial T --attempt A
--out sandbox=PATH --out evaluator=PATH [--config-env VAR --config-out PATH]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

Role = Literal["sandbox", "evaluator"]
ROLES: Final[tuple[Role, ...]] = ("sandbox", "evaluator")
_CONTEXT: Final = b"kubegym-attempt-token/v1"
#: The least key the derivation accepts, in bytes (the operator makes 32).
MIN_KEY_BYTES: Final = 16


def derive(key: bytes, role: Role, namespace: str, trial: str, attempt: int) -> str:
    """The token of one attempt's server (`role`), from the run's key.

    Raises:
        ValueError: the key is too short, or the role unknown.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the run's key is {len(key)} bytes; at least {MIN_KEY_BYTES} needed")
    if role not in ROLES:
        raise ValueError(f"unknown token role {role!r}; expected one of {ROLES}")
    message = b"\0".join(
        [_CONTEXT, role.encode(), namespace.encode(), trial.encode(), str(attempt).encode()]
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def read_key(path: Path) -> bytes:
    """The run's key as its Secret volume holds it (the text of a urlsafe token)."""
    return path.read_bytes().strip()


def _write(path: Path, text: str) -> None:
    """Owner and group may read; written whole (a reader never sees half a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.chmod(0o440)
    os.replace(partial, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.sandbox.tokens",
        description="Derive an attempt's tokens from its run's key into files (an init container).",
    )
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--trial", required=True)
    parser.add_argument("--attempt", type=int, required=True)
    parser.add_argument(
        "--out", action="append", default=[], metavar="ROLE=PATH", help="a token to write"
    )
    parser.add_argument("--config-env", help="a variable holding the attempt's trial.json")
    parser.add_argument("--config-out", type=Path, help="where to write that trial.json")
    args = parser.parse_args(argv)
    try:
        key = read_key(args.key_file)
        for item in args.out:
            role, _, target = item.partition("=")
            if not target:
                parser.error(f"--out {item!r}: expected ROLE=PATH")
            token = derive(key, role, args.namespace, args.trial, args.attempt)
            _write(Path(target), token)
        if args.config_env:
            config = os.environ.get(args.config_env)
            if config is None or args.config_out is None:
                parser.error("--config-env needs the variable set and --config-out")
            _write(args.config_out, config)
    except (OSError, ValueError) as exc:
        print(f"kubegym credentials: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
