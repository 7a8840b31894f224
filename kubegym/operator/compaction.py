"""Smaller parsed objects for the operator's cache: one field-name set per shape.

Every pydantic model instance carries the set of the fields it was given
(`__pydantic_fields_set__`): a TrialStatus's is about 2 KiB, a TrialResult's too,
and each of a trial's scores and image records has one. At 10,000 trials those sets
alone are about 100 MiB, all holding the same few combinations of names.
`share_field_sets` gives every model in a parsed tree the one set of its contents
(`kubegym.operator.trials.TrialView.from_body`, `kubegym.operator.results`).
`shared_images` does the same for a trial's image records: every trial of a run
ran the same few images, so equal records are one object.

Why this is safe: those sets are read only by ``exclude_unset`` and
``model_fields_set``, which the operator never uses on these models; a copy
(``model_copy``, how every decision changes a status) copies its set first, so
a shared set is never changed by a copy's update. A view in the cache is read-only
(`kubegym.operator.informer.Cache`): nothing assigns to its fields, and no image
record is changed in place anywhere (`kubegym.operator.digests` makes new ones).
"""

from __future__ import annotations

import threading
from typing import Any

import pydantic

from kubegym.api.images import ImageRecord

_SETS: dict[frozenset[str], set[str]] = {}
_LOCK = threading.Lock()
_RecordKey = tuple[str, str, str, str | None, str | None, str | None]
_RECORDS: dict[_RecordKey, ImageRecord] = {}
#: Distinct image records kept for sharing; past this the table starts afresh.
MAX_RECORDS = 20_000


def shared_images(records: list[ImageRecord]) -> list[ImageRecord]:
    """`records` with each replaced by the one shared record equal to it."""
    out = []
    for record in records:
        key = (
            record.pod,
            record.container,
            record.image,
            record.digest,
            record.reason,
            record.note,
        )
        found = _RECORDS.get(key)
        if found is None:
            with _LOCK:
                if len(_RECORDS) >= MAX_RECORDS:
                    _RECORDS.clear()
                found = _RECORDS.setdefault(key, record)
        out.append(found)
    return out


def share_field_sets(value: Any) -> None:
    """Give every model in `value` (models, lists, tuples and dicts of them) the shared
    field-name set equal to its own."""
    if isinstance(value, pydantic.BaseModel):
        own: set[str] = value.__pydantic_fields_set__
        key = frozenset(own)
        shared = _SETS.get(key)
        if shared is None:
            with _LOCK:
                shared = _SETS.setdefault(key, set(key))
        object.__setattr__(value, "__pydantic_fields_set__", shared)
        for field in type(value).model_fields:
            share_field_sets(value.__dict__.get(field))
    elif isinstance(value, list | tuple):
        for item in value:
            share_field_sets(item)
    elif isinstance(value, dict):
        for item in value.values():
            share_field_sets(item)
