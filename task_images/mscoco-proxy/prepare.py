"""Generates the mscoco-proxy task's data: synthetic pictures of coloured shapes and template captions.

Usage: prepare.py --out DIR

A stand-in for MS-COCO where there is no network, never comparable with
MLGym's COCO numbers. Each 48x48 picture is a plain background with one or two
shapes (circle, square, triangle) of a colour, a size and a place, plus pixel
noise; five captions per picture describe it from templates with synonyms.
Written deterministically (seeded, raw PPM files), in the layout of the
mscoco-captioning task:

- data/train/ and data/train_captions.jsonl (image_id, file_name, captions);
- data/eval/ and data/eval_images.jsonl (image_id, file_name);
- hidden/valid.jsonl and hidden/test.jsonl (image_id, reference, captions).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

SEED = 20240502
SIZE = 48
TRAIN, VALID, TEST = 2000, 300, 300
NOISE = 12

COLOURS = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (45, 80, 215),
    "yellow": (235, 210, 50),
    "purple": (135, 60, 170),
    "orange": (245, 140, 30),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
    "gray": (128, 128, 128),
}
SHAPES = {"circle": ["circle", "disc"], "square": ["square", "box"], "triangle": ["triangle"]}
SIZES = {"small": (["small", "little", "tiny"], (5, 7)), "large": (["large", "big"], (10, 13))}
PLACES = {
    "left": (13, 24),
    "right": (35, 24),
    "top": (24, 13),
    "bottom": (24, 35),
    "middle": (24, 24),
}
PAIRS = [("left", "right"), ("top", "bottom")]


def draw(
    pixels: np.ndarray, shape: str, colour: tuple[int, int, int], cx: int, cy: int, r: int
) -> None:
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    if shape == "circle":
        mask = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    elif shape == "square":
        mask = (abs(x - cx) <= r) & (abs(y - cy) <= r)
    else:  # a triangle pointing up, its base at cy + r
        mask = (y <= cy + r) & (y >= cy - r) & (2 * abs(x - cx) <= y - (cy - r))
    pixels[mask] = colour


def describe(rng: random.Random, background: str, objects: list[dict]) -> list[str]:
    """Five captions: one per template, each with its own synonyms."""

    def name(o: dict, with_size: bool = True) -> str:
        """The object with its article: "a big red circle", "an orange box"."""
        size = rng.choice(SIZES[o["size"]][0]) + " " if with_size else ""
        words = f"{size}{o['colour']} {rng.choice(SHAPES[o['shape']])}"
        return ("an " if words[0] in "aeiou" else "a ") + words

    bg = ("an " if background[0] in "aeiou" else "a ") + background

    if len(objects) == 1:
        (o,) = objects
        templates = [
            lambda: f"{name(o)} on {bg} background",
            lambda: f"{name(o, False)} in the {o['place']} of the picture",
            lambda: f"there is {name(o)} on {background}",
            lambda: f"{bg} picture with {name(o)}",
            lambda: f"{name(o)} near the {o['place']} of {bg} image",
        ]
    else:
        a, b = objects
        templates = [
            lambda: f"{name(a)} and {name(b)} on {bg} background",
            lambda: (
                f"{name(a, False)} on the {a['place']} and {name(b, False)} on the {b['place']}"
            ),
            lambda: f"two shapes on {background}: {name(a, False)} and {name(b, False)}",
            lambda: f"{bg} picture with {name(b)} and {name(a)}",
            lambda: f"there is {name(a)} next to {name(b)}",
        ]
    return [t() for t in templates]


def picture(rng: random.Random, noise: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    background = rng.choice(list(COLOURS))
    places = [rng.choice(list(PLACES))] if rng.random() < 0.65 else list(rng.choice(PAIRS))
    pixels = np.empty((SIZE, SIZE, 3), dtype=np.int64)
    pixels[:] = COLOURS[background]
    objects = []
    for place in places:
        o = {
            "shape": rng.choice(list(SHAPES)),
            "colour": rng.choice([c for c in COLOURS if c != background]),
            "size": rng.choice(list(SIZES)) if len(places) == 1 else "small",
            "place": place,
        }
        low, high = SIZES[o["size"]][1]
        cx, cy = PLACES[place]
        draw(
            pixels,
            o["shape"],
            COLOURS[o["colour"]],
            cx + rng.randint(-2, 2),
            cy + rng.randint(-2, 2),
            rng.randint(low, high),
        )
        objects.append(o)
    pixels += noise.integers(-NOISE, NOISE + 1, size=pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8), describe(rng, background, objects)


def write_ppm(path: Path, pixels: np.ndarray) -> None:
    path.write_bytes(f"P6\n{SIZE} {SIZE}\n255\n".encode() + pixels.tobytes())


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--source", action="append", default=[])  # none: all is generated
    args = parser.parse_args()
    rng = random.Random(SEED)
    noise = np.random.default_rng(SEED)
    total = TRAIN + VALID + TEST
    ids = rng.sample(range(100_000, 1_000_000), total)  # ids say nothing about the split
    (args.out / "data" / "train").mkdir(parents=True)
    (args.out / "data" / "eval").mkdir(parents=True)
    train, evaluation, answers = [], [], {"valid": [], "test": []}
    for n, image_id in enumerate(ids):
        pixels, captions = picture(rng, noise)
        file_name = f"{image_id:06d}.ppm"
        if n < TRAIN:
            write_ppm(args.out / "data" / "train" / file_name, pixels)
            train.append({"image_id": image_id, "file_name": file_name, "captions": captions})
            continue
        write_ppm(args.out / "data" / "eval" / file_name, pixels)
        evaluation.append({"image_id": image_id, "file_name": file_name})
        split = "valid" if n < TRAIN + VALID else "test"
        answers[split].append(
            {"image_id": image_id, "reference": rng.choice(captions), "captions": captions}
        )
    write_jsonl(
        args.out / "data" / "train_captions.jsonl", sorted(train, key=lambda r: r["image_id"])
    )
    write_jsonl(
        args.out / "data" / "eval_images.jsonl", sorted(evaluation, key=lambda r: r["image_id"])
    )
    for split, rows in answers.items():
        write_jsonl(
            args.out / "hidden" / f"{split}.jsonl", sorted(rows, key=lambda r: r["image_id"])
        )
    print(f"train {len(train)}, validation {VALID}, test {TEST} pictures")


if __name__ == "__main__":
    main()
