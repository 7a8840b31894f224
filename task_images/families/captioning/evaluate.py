"""Scores image captions with BLEU (higher is better), computed the way MLGym's COCO baseline does.

The captioning family's evaluator: mscoco-captioning and its proxy, mscoco-proxy, are
scored by this same script.

Usage: evaluate.py --submission submission.csv --split validation|test --data captions=PATH

The submission is a CSV with the columns image_id,caption: one row per image
of data/eval_images.jsonl. Only the images of the split's answer file (JSON
lines: image_id, reference, captions) are scored. Metrics, as one JSON line:

- bleu: MLGym's number. Per image, NLTK's `sentence_bleu([reference], caption)`
  with its defaults (weights 0.25 x 4, no smoothing) on the lower-cased,
  tokenised, space-joined strings, so that n-grams are of characters, exactly
  as MLGym's call on strings computes them; one reference per image (MLGym
  draws one of the five at random; the preparation draws it once, seeded);
  the mean over images.
- bleu_words: the usual word-level BLEU-4 of each caption against all of the
  image's reference captions (smoothing method 1), the mean over images.

Tokenising is a regular expression (no NLTK data such as punkt is needed).
Exits non-zero with the reason when the submission is malformed.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import warnings
from pathlib import Path

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

try:
    import kubegym_eval  # the scorer puts its folder on PYTHONPATH: the metrics go to its pipe
except ImportError:  # run by hand: PYTHONPATH=<kubegym>/evaluator/kit, or kubegym installed
    import importlib.util

    _kubegym = importlib.util.find_spec("kubegym")
    _roots = list(_kubegym.submodule_search_locations or []) if _kubegym else []
    sys.path += [str(Path(root, "evaluator", "kit")) for root in _roots]
    import kubegym_eval

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_SMOOTH = SmoothingFunction().method1


def tokens(text: str) -> list[str]:
    """Lower-cased words, numbers and punctuation marks."""
    return _TOKEN.findall(text.lower())


def read_submission(path: str) -> dict[int, str]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"image_id", "caption"} <= set(reader.fieldnames):
                sys.exit(
                    f"the submission must have the columns image_id,caption; "
                    f"found {reader.fieldnames}"
                )
            out: dict[int, str] = {}
            for line, row in enumerate(reader, start=2):
                try:
                    key = int(row["image_id"])
                except (TypeError, ValueError):
                    sys.exit(f"line {line}: image_id must be an integer, got {row['image_id']!r}")
                if row["caption"] is None:
                    sys.exit(f"line {line}: the row has no caption")
                if key in out:
                    sys.exit(f"line {line}: image_id {key} appears twice")
                out[key] = row["caption"]
    except OSError as exc:
        sys.exit(f"cannot read the submission {path}: {exc}")
    except UnicodeDecodeError:
        sys.exit("the submission is not UTF-8 text")
    except csv.Error as exc:
        sys.exit(f"the submission is not a valid CSV file: {exc}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True)
    parser.add_argument("--split", required=True, choices=["validation", "test"])
    parser.add_argument("--data", action="append", default=[])
    args = parser.parse_args()
    data = dict(item.split("=", 1) for item in args.data)
    with open(data["captions"], encoding="utf-8") as f:
        truth = [json.loads(line) for line in f if line.strip()]
    predicted = read_submission(args.submission)
    missing = [t["image_id"] for t in truth if t["image_id"] not in predicted]
    if missing:
        sys.exit(
            f"the submission has no caption for {len(missing)} of the {len(truth)} scored images "
            f"(image_ids {missing[:3]}…): write one row per image of data/eval_images.jsonl"
        )
    warnings.filterwarnings("ignore")  # NLTK warns on every zero n-gram count
    chars, words = [], []
    for item in truth:
        hypothesis = tokens(predicted[item["image_id"]])
        reference = " ".join(tokens(item["reference"]))
        chars.append(sentence_bleu([reference], " ".join(hypothesis)))
        references = [tokens(c) for c in item["captions"]]
        words.append(sentence_bleu(references, hypothesis, smoothing_function=_SMOOTH))
    kubegym_eval.report({"bleu": sum(chars) / len(chars), "bleu_words": sum(words) / len(words)})


if __name__ == "__main__":
    main()
