"""Makes the fineweb-proxy corpus: Debian's English documentation, tokenized, as FineWeb-style shards.

A stand-in for FineWeb when the web is out of reach; its numbers are never
comparable with MLGym's. The text is the reStructuredText sources of the Python
3.11 manual (Debian package `python3.11-doc`) and of the Linux 6.1 kernel
documentation (`linux-doc-6.1`, without its translations), about 36 MB.

Steps, all deterministic (the task YAML pins the sha256 of every output):

1. read every ``.rst``/``.txt`` document in sorted path order, clean its
   whitespace, and drop tiny ones;
2. split documents by a hash of their path: 90 % train, 5 % validation, 5 % test;
   within a split, documents are ordered by that hash (a fixed shuffle);
3. train a byte-level BPE tokenizer (8192 tokens, ``<|endoftext|>`` = 0) on the
   training documents with Hugging Face ``tokenizers``;
4. encode each document as ``<|endoftext|>`` followed by its tokens, and write
   the splits as shards in the format of modded-nanogpt's ``fineweb10B``: a
   header of 256 int32 (magic 20240520, version 1, token count), then uint16
   tokens.

Called by `kubegym tasks prepare fineweb-proxy` as
``prepare.py --out DIR --source python-doc=PATH --source linux-doc=PATH``.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import regex
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
VOCAB_SIZE = 8192
EOT = "<|endoftext|>"
SHARD_TOKENS = 1 << 21  # 2,097,152 tokens per training shard
MIN_CHARS = 200
GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SUFFIXES = (".rst", ".rst.txt", ".txt", ".rst.gz", ".txt.gz")


def documents(name: str, root: Path) -> list[tuple[str, str]]:
    """(key, text) for every text document under ``root``, in sorted path order."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if not relative.endswith(SUFFIXES) or relative.startswith("translations/"):
            continue
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = clean(raw.decode("utf-8", errors="replace"))
        if len(text) >= MIN_CHARS:
            out.append((f"{name}/{relative}", text))
    return out


def clean(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def bucket(key: str) -> tuple[int, str]:
    """A stable pseudo-random number in [0, 100) for a document, and its sort key."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return int(digest[:8], 16) % 100, digest


def byte_chars() -> list[str]:
    """GPT-2's map from each byte to a printable character (what ByteLevel does)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def split_words(texts: list[str]) -> list[list[str]]:
    """Each text cut into pre-tokens, exactly as ByteLevel's GPT-2 regex cuts it."""
    pattern = regex.compile(GPT2_SPLIT)
    return [pattern.findall(text) for text in texts]


def train_tokenizer(words: list[list[str]]) -> Tokenizer:
    """A byte-level BPE trained on the word counts of ``words``.

    The trainer is fed every pre-token as its own sequence, with a ByteLevel
    step that does not split again: the same word counts (hence the same
    merges) as training on the raw text, without the slow text-to-offsets pass.
    The saved tokenizer splits with the standard GPT-2 regex.
    """
    counts = collections.Counter(word for doc in words for word in doc)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )

    def batches() -> Iterator[list[str]]:
        for word, count in sorted(counts.items()):
            yield [word] * count

    tokenizer.train_from_iterator(batches(), trainer=trainer)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def encode(tokenizer: Tokenizer, words: list[list[str]]) -> np.ndarray:
    """Each document as <|endoftext|> then its tokens, all concatenated, as uint16.

    Each distinct pre-token is run through the BPE model once; the same ids as
    ``tokenizer.encode(text)``, many times faster on a corpus of repeated words.
    """
    chars = byte_chars()
    model = tokenizer.model
    cache: dict[str, list[int]] = {}
    out: list[int] = []
    eot = tokenizer.token_to_id(EOT)
    for doc in words:
        out.append(eot)
        for word in doc:
            ids = cache.get(word)
            if ids is None:
                mapped = "".join(chars[b] for b in word.encode("utf-8"))
                ids = cache[word] = [token.id for token in model.tokenize(mapped)]
            out.extend(ids)
    return np.asarray(out, dtype=np.uint16)


def write_shard(path: Path, tokens: np.ndarray) -> None:
    header = np.zeros(HEADER_INTS, dtype=np.int32)
    header[0], header[1], header[2] = MAGIC, VERSION, tokens.size
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype(np.uint16).tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[], help="NAME=PATH")
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.source)
    missing = {"python-doc", "linux-doc"} - given.keys()
    if missing:
        sys.exit(f"prepare.py needs the sources {sorted(missing)} (--source NAME=PATH)")

    docs = documents("python", Path(given["python-doc"]))
    docs += documents("linux", Path(given["linux-doc"]))
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    for key, text in docs:
        number, digest = bucket(key)
        split = "train" if number < 90 else "val" if number < 95 else "test"
        splits[split].append((digest, text))
    texts = {split: [text for _, text in sorted(items)] for split, items in splits.items()}
    words = {split: split_words(items) for split, items in texts.items()}

    tokenizer = train_tokenizer(words["train"])
    out: Path = args.out
    (out / "data").mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "data" / "tokenizer.json"))

    shards = out / "data" / "fineweb10B"
    train = encode(tokenizer, words["train"])
    for index, start in enumerate(range(0, train.size, SHARD_TOKENS), start=1):
        write_shard(shards / f"fineweb_train_{index:06d}.bin", train[start : start + SHARD_TOKENS])
    write_shard(shards / "fineweb_val_000000.bin", encode(tokenizer, words["val"]))
    write_shard(out / "hidden" / "fineweb_test_000000.bin", encode(tokenizer, words["test"]))
    counts = {split: len(items) for split, items in texts.items()}
    print(f"documents {counts}, training tokens {train.size}")


if __name__ == "__main__":
    main()
