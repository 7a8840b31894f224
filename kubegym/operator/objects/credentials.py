"""Where an attempt's tokens and config come from: its run's key, or a Secret of its own.

Most attempts need no Secret of their own (`kubegym.sandbox.tokens`): each pod starts
with a ``credentials`` init container that mounts the run's key Secret
(`run_key_secret`, owned by the BenchmarkRun, made once), derives the pod's tokens
and writes them, with the attempt's ``trial.json`` (passed to that init container
alone), into memory-backed emptyDirs; the containers mount those, each only its own
files, exactly where the attempt's Secret would have put them. Only trusted code
mounts the key: the init container runs ``python -m kubegym.sandbox.tokens`` on the
task image (which runs kubegym's evaluator) or on kubegym's agent image.

Two kinds of attempt keep a Secret of their own (`own_secret`):

- an external agent image: its contract is the ``KUBEGYM_*_TOKEN`` variables, which
  only a Secret (or the pod spec itself, readable by anyone who may read pods) can fill;
- an egress allowlist: the proxy URL carries credentials signed with the proxy's key,
  which only the operator holds.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Final

from kubegym.operator.objects.attempt import (
    CONFIG,
    EVALUATOR_TOKEN,
    INIT_RESOURCES,
    RESTRICTED,
    SANDBOX_TOKEN,
    Attempt,
    secret_volume,
    trial_config,
)
from kubegym.operator.objects.egress import allowlist

#: The run key Secret's one key.
RUN_KEY: Final = "key"
#: Where the credentials init container mounts the run's key.
KEY_DIR: Final = "/var/run/kubegym-run"
#: Where it mounts the emptyDirs it fills.
OUT_DIR: Final = "/mnt/credentials"
#: The init container's variable holding the attempt's trial.json.
CONFIG_ENV: Final = "KUBEGYM_TRIAL_JSON"
#: The key volume's name (mounted by the init container only).
KEY_VOLUME: Final = "run-key"


def run_key_secret_name(run: str) -> str:
    """``<run>.attempt-key``: run names have no dots, so it never meets an attempt's name."""
    return f"{run}.attempt-key"


def run_key_secret(metadata: dict[str, Any]) -> dict[str, Any]:
    """The run's key, fresh, under `metadata` (named by `run_key_secret_name`, owned by the
    run); created once: a second create is refused and the first key stays."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": {RUN_KEY: secrets.token_urlsafe(32)},
    }


def own_secret(a: Attempt) -> bool:
    """Whether the attempt needs a Secret of its own (an external agent image, or an
    egress allowlist); else its pods derive their tokens from the run's key."""
    return a.agent.image is not None or bool(allowlist(a))


def key_volume(a: Attempt) -> dict[str, Any]:
    return {
        "name": KEY_VOLUME,
        "secret": {
            "secretName": run_key_secret_name(a.spec.run),
            "defaultMode": 0o400,
            "items": [{"key": RUN_KEY, "path": RUN_KEY}],
        },
    }


def token_volume(a: Attempt, name: str, items: dict[str, str]) -> dict[str, Any]:
    """A volume holding some of the attempt's files (`items`: Secret key → file name): from
    its own Secret, or a small memory-backed emptyDir the init container fills."""
    if own_secret(a):
        return secret_volume(a, name, items)
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}


def init_container(a: Attempt, image: str, outputs: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The init container that fills the token volumes: `outputs` maps each volume to its
    files (Secret key → file name), as `token_volume` was given them."""
    args = [
        "python",
        "-m",
        "kubegym.sandbox.tokens",
        "--key-file",
        f"{KEY_DIR}/{RUN_KEY}",
        "--namespace",
        a.namespace,
        "--trial",
        a.trial,
        "--attempt",
        str(a.attempt),
    ]
    env: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = [{"name": KEY_VOLUME, "mountPath": KEY_DIR, "readOnly": True}]
    roles = {SANDBOX_TOKEN: "sandbox", EVALUATOR_TOKEN: "evaluator"}
    for volume, files in outputs.items():
        mounts.append({"name": volume, "mountPath": f"{OUT_DIR}/{volume}"})
        for key, path in files.items():
            target = f"{OUT_DIR}/{volume}/{path}"
            if key == CONFIG:
                args += ["--config-env", CONFIG_ENV, "--config-out", target]
                env = [{"name": CONFIG_ENV, "value": json.dumps(trial_config(a), sort_keys=True)}]
            else:
                args += ["--out", f"{roles[key]}={target}"]
    return {
        "name": "credentials",
        "image": image,
        "command": args,
        "env": env,
        "volumeMounts": mounts,
        "securityContext": RESTRICTED,
        "resources": INIT_RESOURCES,
    }
