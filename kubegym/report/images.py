"""What a run's trials ran: each trial's image digests, and what is wrong with them across the run.

Reads the run's ``images.json`` (`kubegym.api.trials.ImagesRollup`, written by the
operator's rollups from the Trials' statuses: the kubelet's word, never an
agent's) and finds three things `kubegym.report.integrity` turns into flags:

- a container that ran another digest than the one its pod named (the operator's
  integrity note): the trial did not run what was asked;
- one image, named the same way, resolved to different digests in different
  trials (or containers): a tag moved during the run, so its trials are not
  comparable;
- images named by tag instead of digest: what ran depended on the registry at
  pull time.

A local run has no images (bubblewrap runs no containers), hence no file and no
findings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import ValidationError

from kubegym.api import images as images_api
from kubegym.api import trials as trials_api
from kubegym.index import sources

IMAGES_JSON: Final = images_api.IMAGES_JSON

Check = Literal["mismatch", "moved", "unpinned"]


@dataclass(frozen=True)
class Finding:
    """One check that failed for one trial."""

    trial: str
    check: Check
    evidence: str
    hits: int = 1
    """How many of the trial's containers (mismatch) or images (moved, unpinned) it concerns."""


def read(
    source: sources.RunSource, present: Iterable[str]
) -> tuple[trials_api.ImagesRollup | None, list[str]]:
    """The run's images.json, when it has a readable one, and notes on what was skipped."""
    if IMAGES_JSON not in set(present):
        return None, []
    try:
        data = json.loads(source.read_bytes(IMAGES_JSON))
        return trials_api.ImagesRollup.model_validate(data), []
    except (ValueError, OSError) as exc:
        problem = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
        return None, [f"skipped {IMAGES_JSON}: not an images rollup ({problem})"]


def moved(rollup: trials_api.ImagesRollup) -> dict[str, list[str]]:
    """Each image (as named) that resolved to more than one digest, with its digests, sorted."""
    seen: dict[str, set[str]] = defaultdict(set)
    for trial in rollup.trials:
        for record in trial.images:
            ran = _sha(record.digest)
            if ran is not None:
                seen[record.image].add(ran)
    return {image: sorted(found) for image, found in sorted(seen.items()) if len(found) > 1}


def findings(rollup: trials_api.ImagesRollup) -> list[Finding]:
    """What is wrong with each trial's images, trial by trial in the rollup's order."""
    tags = moved(rollup)
    found: list[Finding] = []
    for trial in rollup.trials:
        noted = [r for r in trial.images if r.note]
        if noted:
            first = noted[0]
            found.append(
                Finding(
                    trial.trial,
                    "mismatch",
                    f"{first.pod}/{first.container} {first.image}: {first.note}",
                    len(noted),
                )
            )
        shifted = sorted({r.image for r in trial.images if r.image in tags})
        if shifted:
            image = shifted[0]
            mine = sorted({s for r in trial.images if r.image == image and (s := _sha(r.digest))})
            found.append(
                Finding(
                    trial.trial,
                    "moved",
                    f"{image} ran as {', '.join(_short(d) for d in mine)} here; the run saw "
                    f"{', '.join(_short(d) for d in tags[image])}",
                    len(shifted),
                )
            )
        by_tag = sorted({r.image for r in trial.images if not r.pinned})
        if by_tag:
            found.append(Finding(trial.trial, "unpinned", ", ".join(by_tag), len(by_tag)))
    return found


def listing(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per image and digest a trial ran, with the containers that ran it.

    Args:
        records: the trial's image records as JSON (`ImageRecord` fields).
    """
    groups: dict[tuple[str, str, str], list[str]] = {}
    for r in records:
        if r.get("digest"):
            what = str(r["digest"])
        else:
            what = f"not pulled ({r.get('reason') or 'no digest reported'})"
        key = (str(r.get("image")), what, str(r.get("note") or ""))
        groups.setdefault(key, []).append(f"{r.get('pod')}/{r.get('container')}")
    lines = []
    for (image, what, note), containers in groups.items():
        line = f"{image} → {what}  [{', '.join(containers)}]"
        lines.append(line + (f"  NOTE: {note}" if note else ""))
    return lines


def _sha(digest: str | None) -> str | None:
    if digest is None:
        return None
    return images_api.split_digest(digest)[1] or digest


def _short(digest: str) -> str:
    return digest[: len("sha256:") + 12]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"


__all__ = ["IMAGES_JSON", "Check", "Finding", "findings", "listing", "moved", "read"]
