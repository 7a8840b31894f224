"""What the cache remembers of each image between builds, and the decision it informs.

``state.json`` holds, by reference, each image's last inputs (their hash and components), digest and
build time; ``times.jsonl`` gets one line per image per run (built, unchanged or
restored, and the seconds it took). `kubegym.images._build` reads the record before
each image (`why_build`) and writes it after (`State.record`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubegym.images import _inputs, _plan


def why_build(
    before: Mapping[str, Any],
    *,
    inputs: str,
    components: _inputs.Components,
    reference: str,
    in_layout: str | None,
    in_store: bool,
    force: bool = False,
) -> str | None:
    """Whether an image must be built: None to skip it, ``restore`` to take it back from
    the OCI layout into the store, else the reason to build, for the progress line.

    Args:
        before: the image's record from its last build (empty: never built).
        inputs: the hash of its inputs now, of ``components``.
        components: its inputs now (`kubegym.images._inputs`).
        reference: the reference it is to be tagged with now.
        in_layout: the digest the OCI layout holds for it (None: nothing).
        in_store: whether the store has it tagged ``reference``.
        force: build even when nothing changed.
    """
    if force:
        return "forced"
    if not before:
        return "first build"
    if before.get("inputs") != inputs or before.get("reference") != reference:
        changed = _inputs.changed(before.get("components") or {}, components)
        return "changed: " + (", ".join(changed[:6]) or "reference")
    if in_layout is None or in_layout != before.get("digest"):
        return "not in the OCI layout"
    return None if in_store else "restore"


class State:
    """The records in ``<cache>/state.json`` and the times in ``<cache>/times.jsonl``."""

    def __init__(self, cache: Path) -> None:
        self.file = cache / "state.json"
        self.times = cache / "times.jsonl"
        # By reference: builds of another version or registry keep their own records.
        # (Records by image name, as first written, are taken over by their reference.)
        self.records: dict[str, dict[str, Any]] = {
            str(record.get("reference", key)): record
            for key, record in _read_json(self.file).items()
            if isinstance(record, dict)
        }

    def last(self, build: _plan.Build) -> dict[str, Any]:
        """The record of ``build``'s last build (empty: never built in this cache)."""
        return self.records.get(build.reference, {})

    def record(
        self,
        build: _plan.Build,
        *,
        outcome: str,
        took: float,
        inputs: str,
        components: _inputs.Components,
        digest: str,
        seconds: float | None,
        debian: dict[str, Any] | None,
        ref: str,
    ) -> None:
        """Remember ``build``'s outcome: its record (built, or kept) and a line of times."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.records[build.reference] = {
            "reference": build.reference,
            "inputs": inputs,
            "components": components,
            "digest": digest,
            "oci_ref": ref,
            "seconds": seconds,
            "debian": debian,
            "at": now if outcome == "built" else self.last(build).get("at", now),
        }
        _write_json(self.file, self.records)
        line = {
            "at": now,
            "name": build.name,
            "reference": build.reference,
            "outcome": outcome,
            "seconds": round(took, 2),
            "digest": digest,
        }
        with self.times.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: object) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(value, indent=1, sort_keys=True, default=str))
    partial.replace(path)
