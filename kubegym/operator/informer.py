"""The operator's watch-fed cache of the objects it reads: runs, trials, tasks and its pods.

Reconciles read here instead of asking the API server: a run of 10,000 trials
would otherwise LIST its trials on every run reconcile and GET each trial, its
run, its task and its pods on every trial reconcile. kopf's watches feed the
cache (`kubegym.operator.handlers`), and kopf starts no handler until every
watched kind's initial listing is in (its indexes' rule), so a reconcile never
sees a half-filled cache — after a restart, a missing pod really is missing.

Three rules keep a cache that lags the API server by one watch event safe:

- write-through: what the operator itself creates or patches goes into the cache
  from the API server's answer (`observe`), so its next reconcile sees its own
  writes even before the watch brings them;
- never backwards: an object is replaced only by a newer ``resourceVersion``
  (etcd's revision, an integer on every API server kubegym targets), so a watch
  event that is older than a write-through is ignored;
- optimistic writes: status patches carry the ``resourceVersion`` they were
  decided from (`kubegym.operator.kube.Kube.patch_status`); a decision made on a
  stale copy is refused by the API server (409) and made again on the newer one.

What is kept is small (bench/operator_memory.py measures it at 10,000 trials):

- pods are kept slim (`slim_pod`): the fields the operator reads (labels, times,
  node, container names and images; of the status its phase, reason, message, start,
  conditions and each container's name, image, digest and state), not their specs'
  env, volumes and probes, their IPs, QoS class or containers' ids, readiness, restart
  counts and last states, nor any object's managedFields;
- every kept body's keys and short strings are interned (`compact`): 10,000 Trials
  and their pods repeat the same label keys, images, digests, reasons and times;
- a Trial's status is dropped from its cached body once it is parsed (`Cache.parsed`):
  the parsed view holds it, and the body is only read for its metadata;
- a deleted pod's tombstone is kept only when it can matter (`Cache(keep_gone=…)`:
  the operator keeps those that say who stopped them), for `TOMBSTONE_SECONDS` and at
  most `TOMBSTONES` of them.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from kubegym.operator import labels

Key = tuple[str, str]  # (namespace, name)
V = TypeVar("V")

#: The kinds the cache holds, by the plural the API server and kopf use.
RUNS, TRIALS, TASKS, PODS = "benchmarkruns", "trials", "tasks", "pods"
KINDS = (RUNS, TRIALS, TASKS, PODS)

#: How many deleted pods' last states are kept (`Cache.gone`), and for how long: a
#: tombstone is read by the trial's next reconcile, which the deletion itself enqueues.
TOMBSTONES = 2_000
TOMBSTONE_SECONDS = 900.0
#: Strings up to this long are interned (`compact`); longer ones (termination messages)
#: are rarely equal.
INTERN_MAX = 256
#: Kinds whose cached body keeps only its metadata and spec once it has been parsed.
LEAN_AFTER_PARSE = frozenset({"trials"})
_POD_SPEC_FIELDS = ("nodeName", "activeDeadlineSeconds", "schedulingGates")
#: What `kubegym.operator.outcomes` and `digests` read of a pod's status and of each of its
#: containers' (a test checks every outcome and image record against the whole pods). The
#: rest is a sixth of a pod's cached status, at 4,000 live pods some 5 MiB: a container's
#: id (twice, unique), readiness, restart count and last state (pods never restart), the
#: pod's IPs and QoS class.
_POD_STATUS_FIELDS = ("phase", "reason", "message", "startTime", "conditions")
_CONTAINER_STATUS_FIELDS = ("name", "image", "imageID", "state")
_CONTAINER_STATUSES = ("initContainerStatuses", "containerStatuses")
_METADATA_DROPPED = ("managedFields",)


def resource_version(body: Mapping[str, Any]) -> int:
    """An object's resourceVersion as a number (-1 when absent or not a number)."""
    try:
        return int((body.get("metadata") or {}).get("resourceVersion") or -1)
    except (TypeError, ValueError):
        return -1


def compact(value: Any) -> Any:
    """A copy of a JSON value whose keys and short strings are interned: one object for
    each label key, image, digest, reason or time however many bodies repeat it."""
    kind = type(value)  # exact types first: this runs on every watch event
    if kind is str:
        return _intern(value) if len(value) <= INTERN_MAX else value
    if kind is dict or isinstance(value, Mapping):
        return {_intern(str(k)): compact(v) for k, v in value.items()}
    if kind is list:
        return [compact(v) for v in value]
    return value


_intern = sys.intern


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """A custom object without its managedFields (the rest is what the models read)."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _METADATA_DROPPED}
    out: dict[str, Any] = compact({**body, "metadata": meta})
    return out


def lean(body: Mapping[str, Any]) -> dict[str, Any]:
    """What is read of a Trial's body once its view is parsed: its kind, spec and metadata
    but its owner references (the run's, a quarter of what was kept: the run is found by
    the Trial's label and spec) and no status."""
    meta = body.get("metadata") or {}
    kept = {k: v for k, v in meta.items() if k not in _NOT_READ_ONCE_PARSED}
    return {**{k: v for k, v in body.items() if k != "status"}, "metadata": kept}


_NOT_READ_ONCE_PARSED = frozenset(("ownerReferences",))


def slim_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a pod the operator reads (`kubegym.operator.outcomes`, `digests`)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    kept_spec: dict[str, Any] = {k: spec[k] for k in _POD_SPEC_FIELDS if k in spec}
    for field in ("initContainers", "containers"):
        if field in spec:
            kept_spec[field] = [
                {"name": c.get("name"), "image": c.get("image")} for c in spec[field] or []
            ]
    kept_meta = {
        k: meta[k]
        for k in (
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "labels",
            "creationTimestamp",
            "deletionTimestamp",
        )
        if k in meta
    }
    out: dict[str, Any] = compact(
        {"metadata": kept_meta, "spec": kept_spec, "status": _slim_pod_status(body)}
    )
    return out


def _slim_pod_status(body: Mapping[str, Any]) -> dict[str, Any]:
    status = body.get("status") or {}
    kept = {k: status[k] for k in _POD_STATUS_FIELDS if k in status}
    for field in _CONTAINER_STATUSES:
        if field in status:
            kept[field] = [
                {k: c[k] for k in _CONTAINER_STATUS_FIELDS if k in c} for c in status[field] or []
            ]
    return kept


class _Entry(Generic[V]):
    """A cached body and, made on first use, what the operator parses it into.

    For a kind in `LEAN_AFTER_PARSE`, `body` is the lean body from the start and `full`
    the whole one, kept only until it is parsed.
    """

    __slots__ = ("body", "full", "parsed", "version")

    def __init__(self, body: dict[str, Any], lean_body: bool = False) -> None:
        self.body = lean(body) if lean_body else body
        self.full: dict[str, Any] | None = body if lean_body else None
        self.version = resource_version(body)
        self.parsed: V | None = None


def _still_deleting(old: _Entry[Any], new: _Entry[Any]) -> _Entry[Any]:
    """``new``, still marked as being deleted when ``old`` (the same object: its uid) was.

    A deletion is never undone, so the mark only goes with the object. The operator's own
    mark (`Cache.deleting`) can be ahead of the watch: a status update the server made
    before the delete, arriving after it, is newer than the cached copy and would drop the
    mark, and the next look would delete the pod again. (bench/operator_scale.py counts
    the operator's own pod DELETEs: 2.00 a trial; the rest it counts are KWOK's.)
    """
    when = (old.body.get("metadata") or {}).get("deletionTimestamp")
    meta = new.body.get("metadata") or {}
    if (
        not when
        or meta.get("deletionTimestamp")
        or meta.get("uid") != old.body["metadata"].get("uid")
    ):
        return new  # not being deleted, the server's own mark, or another object of the name
    return _marked(new, when)


def _marked(entry: _Entry[Any], when: str) -> _Entry[Any]:
    """A copy of ``entry`` (same version) whose body reads as being deleted since ``when``."""
    meta = entry.body.get("metadata") or {}
    marked: _Entry[Any] = _Entry({**entry.body, "metadata": {**meta, "deletionTimestamp": when}})
    marked.version = entry.version
    return marked


class Cache:
    """The latest known copy of each watched object, thread-safe.

    kopf's event loop writes (`upsert`, `remove`); the work queues' threads read.
    Reads return the cached dictionaries themselves: callers must not modify them.

    Args:
        keep_gone: which deleted pods' last states to keep as tombstones (`gone`); all
            of them when None.
        clock: monotonic seconds, for the tombstones' age (a parameter for tests).
    """

    def __init__(
        self,
        keep_gone: Callable[[dict[str, Any]], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, dict[Key, _Entry[Any]]] = {kind: {} for kind in KINDS}
        # Secondary indexes: a trial's pods, a run's trials, a namespace's tasks.
        self._pods_by_trial: defaultdict[Key, set[str]] = defaultdict(set)
        self._trials_by_run: defaultdict[Key, set[str]] = defaultdict(set)
        # Tombstones, oldest first: (when kept, last state).
        self._gone: OrderedDict[Key, tuple[float, dict[str, Any]]] = OrderedDict()
        self._keep_gone = keep_gone
        self._clock = clock

    # --- writes (the watch, and the operator's own writes) ---------------------------

    def upsert(self, kind: str, body: Mapping[str, Any]) -> bool:
        """Keep `body` unless the cache holds a newer version; whether it was kept."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        entry: _Entry[Any] = _Entry(
            slim_pod(body) if kind == PODS else slim(body), kind in LEAN_AFTER_PARSE
        )
        with self._lock:
            table = self._objects[kind]
            old = table.get(key)
            if old is not None and old.version > entry.version >= 0:
                return False
            if old is not None and kind == PODS:
                entry = _still_deleting(old, entry)
            table[key] = entry
            owner = self._owner(kind, entry.body)
            if owner is not None:
                self._index(kind)[owner].add(key[1])
        return True

    def observe(self, kind: str, body: Mapping[str, Any]) -> None:
        """A write's answer from the API server (write-through); only kinds the cache holds."""
        if kind in self._objects:
            self.upsert(kind, body)

    def deleting(self, kind: str, namespace: str, name: str, when: str) -> None:
        """The operator has just deleted an object (write-through of a delete): its cached
        copy reads as being deleted from now on, so the next reconcile does not delete it
        again before the watch says so. Nothing else changes: the watch's next copy of it
        (same or newer version) replaces this one, still marked until it carries the
        server's own deletionTimestamp (`_still_deleting`), and its deletion removes it."""
        with self._lock:
            table = self._objects[kind]
            old = table.get((namespace, name))
            if old is None or (old.body.get("metadata") or {}).get("deletionTimestamp"):
                return
            table[(namespace, name)] = _marked(old, when)

    def remove(
        self,
        kind: str,
        namespace: str,
        name: str,
        uid: str | None = None,
        final: Mapping[str, Any] | None = None,
    ) -> None:
        """Forget an object the watch says is deleted (only that incarnation, by uid).

        A pod's last known state (`final`, the deletion event's copy, else the cached one)
        is kept a while as a tombstone (`gone`): a pod that went away between two looks
        still says why (Kueue's preemption, an eviction), instead of only "deleted".
        """
        key = (namespace, name)
        with self._lock:
            table = self._objects[kind]
            old = table.get(key)
            if old is None:
                return
            if uid and (old.body.get("metadata") or {}).get("uid") not in (None, uid):
                return  # a newer object of the same name is already here
            del table[key]
            if kind == PODS:
                self._tombstone(key, final if final is not None else old.body)
            owner = self._owner(kind, old.body)
            if owner is not None:
                members = self._index(kind).get(owner)
                if members is not None:
                    members.discard(name)
                    if not members:
                        del self._index(kind)[owner]

    def _tombstone(self, key: Key, body: Mapping[str, Any]) -> None:
        meta = dict(body.get("metadata") or {})
        # Gone, whatever the last copy said: classified as a pod being deleted.
        meta.setdefault(
            "deletionTimestamp", meta.get("creationTimestamp") or "1970-01-01T00:00:00Z"
        )
        stone = {**body, "metadata": meta}
        now = self._clock()
        self._expire(now)
        if self._keep_gone is not None and not self._keep_gone(stone):
            self._gone.pop(key, None)  # an older incarnation's says nothing of this one
            return
        stone = slim_pod(stone)  # the deletion event's copy is whole
        self._gone[key] = (now, stone)
        self._gone.move_to_end(key)
        while len(self._gone) > TOMBSTONES:
            self._gone.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._gone:
            kept, _ = next(iter(self._gone.values()))
            if now - kept <= TOMBSTONE_SECONDS:
                return
            self._gone.popitem(last=False)

    def gone(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The last known state of a pod deleted lately (None when there is none)."""
        with self._lock:
            self._expire(self._clock())
            found = self._gone.get((namespace, name))
        return None if found is None else found[1]

    def _index(self, kind: str) -> defaultdict[Key, set[str]]:
        return self._pods_by_trial if kind == PODS else self._trials_by_run

    @staticmethod
    def _owner(kind: str, body: Mapping[str, Any]) -> Key | None:
        if kind not in (PODS, TRIALS):
            return None
        meta = body.get("metadata") or {}
        found = meta.get("labels") or {}
        owner = found.get(labels.TRIAL if kind == PODS else labels.RUN)
        if kind == TRIALS and not owner:
            owner = (body.get("spec") or {}).get("run")
        return (str(meta.get("namespace") or ""), str(owner)) if owner else None

    # --- reads (the reconcilers) -------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._objects[kind].get((namespace, name))
        return None if entry is None else entry.body

    def parsed(
        self, kind: str, namespace: str, name: str, parse: Callable[[dict[str, Any]], V]
    ) -> V | None:
        """The object parsed by `parse`, parsed once per version (the same `parse` per kind)."""
        with self._lock:
            entry = self._objects[kind].get((namespace, name))
        return None if entry is None else self._parse(entry, parse)

    @staticmethod
    def _parse(entry: _Entry[Any], parse: Callable[[dict[str, Any]], V]) -> V:
        # Two threads may both parse a fresh entry: the same answer, kept once. The whole
        # body is read before `parsed` is checked, and `parsed` is set before the whole
        # body is let go: a thread that finds `full` gone finds `parsed` set.
        full = entry.full
        if entry.parsed is None:
            entry.parsed = parse(full if full is not None else entry.body)
            entry.full = None
        parsed: V = entry.parsed
        return parsed

    def pods(self, namespace: str, trial: str) -> list[dict[str, Any]]:
        """The trial's pods (every attempt's)."""
        with self._lock:
            names = list(self._pods_by_trial.get((namespace, trial), ()))
            table = self._objects[PODS]
            return [table[(namespace, n)].body for n in names if (namespace, n) in table]

    def trials_of(self, namespace: str, run: str, parse: Callable[[dict[str, Any]], V]) -> list[V]:
        """The run's Trials, each parsed once per version."""
        with self._lock:
            names = list(self._trials_by_run.get((namespace, run), ()))
            table = self._objects[TRIALS]
            entries = [table[(namespace, n)] for n in names if (namespace, n) in table]
        return [self._parse(e, parse) for e in entries]

    def resync(
        self, kind: str, listed: set[Key], version: int, namespace: str | None
    ) -> list[dict[str, Any]]:
        """Make the cache agree with a fresh LIST of names taken at `version`: forget what
        it held from before the list and the list did not return. A watch that broke and
        came back through a new listing (an API server or etcd restart) reports no
        deletion it missed; this finds them. (What changed is the watch's to tell.)

        Returns:
            The bodies forgotten, for their trials and runs to be looked at again.
        """
        with self._lock:
            stale = [
                (key, entry.body)
                for key, entry in self._objects[kind].items()
                if key not in listed
                and (namespace is None or key[0] == namespace)
                and 0 <= entry.version <= version
            ]
        for key, body in stale:
            self.remove(kind, key[0], key[1], (body.get("metadata") or {}).get("uid"))
        return [body for _, body in stale]

    def count(self, kind: str) -> int:
        with self._lock:
            return len(self._objects[kind])

    def keys(self, kind: str) -> Iterable[Key]:
        with self._lock:
            return list(self._objects[kind])
