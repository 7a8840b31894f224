"""Prepares the MS-COCO captioning task from the COCO 2014 archives.

Usage: prepare.py --out DIR --source annotations=annotations_trainval2014.zip
                  --source train-images=train2014.zip --source val-images=val2014.zip

Reads `annotations/captions_{train,val}2014.json` and the images of both
archives (as zips, never unpacked whole). Writes, deterministically:

- data/train/ and data/train_captions.jsonl: every train2014 image with its
  captions (image_id, file_name, captions);
- data/eval/ and data/eval_images.jsonl: every val2014 image (image_id,
  file_name), the images to caption;
- hidden/valid.jsonl and hidden/test.jsonl: val2014 split in two halves
  (seeded), each image with its captions and the one reference MLGym's
  scoring compares with (drawn once, seeded: image_id, reference, captions).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import zipfile
from pathlib import Path

SEED = 20240501
NEEDED = ("annotations", "train-images", "val-images")


def captions(annotations: zipfile.ZipFile, split: str) -> list[dict]:
    """The images of one split, in image_id order, each with its captions in annotation-id order."""
    name = f"annotations/captions_{split}.json"
    try:
        raw = json.loads(annotations.read(name))
    except KeyError:
        sys.exit(f"the annotations archive has no {name}")
    by_image: dict[int, list[tuple[int, str]]] = {}
    for ann in raw["annotations"]:
        by_image.setdefault(ann["image_id"], []).append((ann["id"], ann["caption"].strip()))
    images = []
    for image in sorted(raw["images"], key=lambda i: i["id"]):
        found = sorted(by_image.get(image["id"], []))
        if found:
            images.append(
                {
                    "image_id": image["id"],
                    "file_name": image["file_name"],
                    "captions": [c for _, c in found],
                }
            )
    return images


def copy_images(archive: zipfile.ZipFile, folder: str, images: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for image in images:
        member = f"{folder}/{image['file_name']}"
        try:
            with archive.open(member) as src, (out / image["file_name"]).open("wb") as dst:
                shutil.copyfileobj(src, dst)
        except KeyError:
            sys.exit(f"the {folder} archive has no {member}")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[])
    args = parser.parse_args()
    sources = dict(item.split("=", 1) for item in args.source)
    missing = [n for n in NEEDED if n not in sources]
    if missing:
        sys.exit(f"missing --source for {', '.join(missing)}")
    with zipfile.ZipFile(sources["annotations"]) as annotations:
        train, val = captions(annotations, "train2014"), captions(annotations, "val2014")

    with zipfile.ZipFile(sources["train-images"]) as archive:
        copy_images(archive, "train2014", train, args.out / "data" / "train")
    with zipfile.ZipFile(sources["val-images"]) as archive:
        copy_images(archive, "val2014", val, args.out / "data" / "eval")
    write_jsonl(args.out / "data" / "train_captions.jsonl", train)
    write_jsonl(
        args.out / "data" / "eval_images.jsonl",
        [{"image_id": i["image_id"], "file_name": i["file_name"]} for i in val],
    )

    rng = random.Random(SEED)
    test_ids = set(rng.sample([i["image_id"] for i in val], len(val) // 2))
    answers: dict[str, list[dict]] = {"valid": [], "test": []}
    for image in val:
        split = "test" if image["image_id"] in test_ids else "valid"
        answers[split].append(
            {
                "image_id": image["image_id"],
                "reference": rng.choice(image["captions"]),
                "captions": image["captions"],
            }
        )
    for split, rows in answers.items():
        write_jsonl(args.out / "hidden" / f"{split}.jsonl", rows)
    print(
        f"train {len(train)}, validation {len(answers['valid'])}, test {len(answers['test'])} images"
    )


if __name__ == "__main__":
    main()
