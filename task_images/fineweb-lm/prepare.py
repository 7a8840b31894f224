"""Lays out MLGym's FineWeb data (modded-nanogpt's GPT-2-tokenized ``fineweb10B`` shards) for kubegym.

The shards come from the Hugging Face dataset ``kjj0/fineweb10B-gpt2`` (the
task YAML's URL sources; kubegym downloads and caches them, and fails with a
ConfigError when the hub cannot be reached). Each shard is a header of 256
int32 (magic 20240520, version 1, token count), then uint16 GPT-2 tokens.

Writes:
- ``data/fineweb10B/fineweb_train_*.bin``: the training shards, for the agent
  (hard links to the cached downloads where the file system allows it);
- ``hidden/fineweb_test.bin``: the first 10,485,760 (+1) tokens of
  ``fineweb_val_000000.bin``, exactly the tokens MLGym's evaluation scores;
- ``hidden/fineweb_valid.bin``: the next 10,485,760 (+1) tokens of that shard,
  for kubegym's ``validate`` (MLGym validated on the test tokens themselves).

Called by `kubegym tasks prepare fineweb-lm` as
``prepare.py --out DIR --source val=PATH --source train01=PATH …``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

MAGIC = 20240520
EVAL_TOKENS = 10_485_760  # MLGym's val_tokens: 160 batches of 64 sequences of 1024


def read_shard(path: Path) -> np.ndarray:
    with path.open("rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype=np.int32)
        tokens = np.frombuffer(f.read(), dtype=np.uint16)
    if header[0] != MAGIC or header[1] != 1 or header[2] != tokens.size:
        sys.exit(f"{path}: not a version-1 fineweb10B shard (bad header or truncated)")
    return tokens


def write_shard(path: Path, tokens: np.ndarray) -> None:
    header = np.zeros(256, dtype=np.int32)
    header[0], header[1], header[2] = MAGIC, 1, tokens.size
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype(np.uint16).tobytes())


def place(source: Path, target: Path) -> None:
    """A hard link to the cached download when possible (the shards are 200 MB each), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="NAME=PATH")
    args = parser.parse_args()
    given = {name: Path(path) for name, path in (item.split("=", 1) for item in args.source)}
    if "val" not in given:
        sys.exit("prepare.py needs the validation shard: --source val=PATH")
    trains = sorted(name for name in given if name.startswith("train"))
    if not trains:
        sys.exit("prepare.py needs at least one training shard: --source train01=PATH")

    for name in trains:
        read_shard(given[name])  # checks the header before the agent ever sees it
        place(given[name], args.out / "data" / "fineweb10B" / given[name].name)
    val = read_shard(given["val"])
    if val.size < 2 * EVAL_TOKENS + 1:
        sys.exit(f"the validation shard holds {val.size} tokens; {2 * EVAL_TOKENS + 1} are needed")
    write_shard(args.out / "hidden" / "fineweb_test.bin", val[: EVAL_TOKENS + 1])
    write_shard(args.out / "hidden" / "fineweb_valid.bin", val[EVAL_TOKENS : 2 * EVAL_TOKENS + 1])
    print(f"{len(trains)} training shards; test and validation: {EVAL_TOKENS} tokens each")


if __name__ == "__main__":
    main()
