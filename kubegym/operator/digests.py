"""Which image each container of an attempt ran, read from the pods' statuses (the kubelet's word).

`kubegym.operator.trials.decide` calls `collect` on the attempt's pods when they
run and again at their end, and keeps the union (`merge`) in the Trial's
``status.images``; the run's rollups copy it to ``images.json``. The only inputs
are what the API server returns for the two pods: the spec's image names (what
the operator asked for) and each container status's ``imageID`` (what the
runtime ran). Nothing an agent writes is read: not its termination message, not
its summary, not the sandbox.

When the spec names an image by digest, the digest the runtime reports must be
that one; anything else is recorded as a note on the container (it should never
happen, and a runtime that ran something else must be visible).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kubegym.api import images as images_api

#: How much of an unreadable imageID a note repeats.
_SHOWN = 200


def collect(
    sandbox: dict[str, Any] | None, agent: dict[str, Any] | None
) -> list[images_api.ImageRecord]:
    """The images of every container (init containers too) the kubelet has reported on.

    Args:
        sandbox: the attempt's sandbox pod as the API server returned it, or None.
        agent: its agent pod, or None.

    Returns:
        One record per container with a status, deduplicated, in a stable order. A
        container that has not started has no digest (``reason`` says why it waits:
        ``ErrImagePull``, ``ImagePullBackOff``…); containers the kubelet has not reported
        on at all (a pod never scheduled) are left out.
    """
    found: list[images_api.ImageRecord] = []
    pods: tuple[tuple[dict[str, Any] | None, images_api.PodRole], ...] = (
        (sandbox, "sandbox"),
        (agent, "agent"),
    )
    for pod, role in pods:
        if pod is not None:
            found.extend(_pod_records(pod, role))
    return merge([], found)


def merge(
    old: Iterable[images_api.ImageRecord], new: Iterable[images_api.ImageRecord]
) -> list[images_api.ImageRecord]:
    """The records of one attempt read at two moments, as one list.

    A container seen without a digest and later with one keeps only the digest; a
    container seen with two different digests (restarted on a moved tag) keeps both.

    Returns:
        The records, deduplicated, sorted by pod, container, image and digest.
    """
    by_key: dict[tuple[str, str, str, str | None], images_api.ImageRecord] = {}
    for record in (*old, *new):
        by_key[(record.pod, record.container, record.image, record.digest)] = record
    pulled = {(r.pod, r.container, r.image) for r in by_key.values() if r.digest is not None}
    kept = [
        r
        for r in by_key.values()
        if r.digest is not None or (r.pod, r.container, r.image) not in pulled
    ]
    return sorted(kept, key=lambda r: (r.pod, r.container, r.image, r.digest or ""))


def notes(records: Iterable[images_api.ImageRecord]) -> list[str]:
    """The integrity notes of `records`, each as one sentence naming its container."""
    return [f"{r.pod} pod, container {r.container}: {r.note}" for r in records if r.note]


def _pod_records(pod: dict[str, Any], role: images_api.PodRole) -> Iterator[images_api.ImageRecord]:
    spec = pod.get("spec") or {}
    named = {
        str(c.get("name")): str(c.get("image") or "")
        for c in (*(spec.get("initContainers") or []), *(spec.get("containers") or []))
    }
    status = pod.get("status") or {}
    for entry in (
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ):
        name = str(entry.get("name") or "")
        if not name:
            continue
        # The spec is what the operator asked for; the status's `image` is the runtime's
        # spelling of it (containerd may expand or replace it), kept only without a spec.
        image = named.get(name) or str(entry.get("image") or "")
        yield record(role, name, image, entry.get("imageID"), _waiting_reason(entry))


def record(
    pod: images_api.PodRole, container: str, image: str, image_id: Any, waiting: str | None = None
) -> images_api.ImageRecord:
    """One container's record from its named image and the kubelet's ``imageID``.

    Args:
        pod: the pod's role.
        container: the container's name.
        image: the image as the pod spec named it.
        image_id: the container status's ``imageID`` (empty before a pull).
        waiting: the container's waiting reason, if it is waiting.
    """
    raw = image_id.strip() if isinstance(image_id, str) else ""
    digest = images_api.normalise_image_id(raw)
    note = None
    if raw and digest is None:
        note = f"the kubelet's imageID {raw[:_SHOWN]!r} is not a sha256 digest"
    expected = images_api.named_digest(image)
    if expected is not None and digest is not None:
        _, ran = images_api.split_digest(digest)
        if ran is None:
            note = (
                f"named by digest {expected}, but the runtime reported only the node-local "
                f"image ID {digest}: the digest cannot be checked"
            )
        elif ran != expected:
            note = f"named by digest {expected}, but the runtime ran {ran}"
    return images_api.ImageRecord(
        pod=pod,
        container=container[:253],
        image=image[:1024],
        digest=digest,
        reason=(waiting or None) if digest is None else None,
        note=note,
    )


def _waiting_reason(entry: dict[str, Any]) -> str | None:
    waiting = (entry.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    return str(reason)[:128] if reason else None


__all__ = ["collect", "merge", "notes", "record"]
