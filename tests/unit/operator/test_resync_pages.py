"""`kube.listed_names`: a resync's LIST page is read for its names alone, and decoding it
costs next to nothing however much managedFields the API server sends with them.

The pages are made as the API server makes a metadata-only list of pods
(``PartialObjectMetadataList``): 97% of a real 500-pod page was managedFields.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

from kubegym.operator import kube


def fields_tree(depth: int, width: int, prefix: str = "f:") -> dict[str, Any]:
    """A managedFields ``fieldsV1`` tree like a kubelet's status entry: nested empty sets."""
    if depth == 0:
        return {}
    return {
        f"{prefix}field-{i}": {".": {}, **fields_tree(depth - 1, width, prefix)}
        for i in range(width)
    }


def pod_metadata(namespace: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "resourceVersion": "4711",
        "labels": {"app.kubernetes.io/managed-by": "kubegym", "kubegym.io/trial": "t"},
        "ownerReferences": [{"kind": "Trial", "name": "t", "uid": "uid-t"}],
        "managedFields": [
            {
                "manager": manager,
                "operation": "Update",
                "time": "2026-12-05T10:05:09Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_tree(depth=3, width=5),
            }
            for manager in ("OpenAPI-Generator", "kubelet", "kwok")
        ],
    }


def page(items: list[dict[str, Any]], version: str = "90210", token: str | None = None) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": version}
    if token is not None:
        meta["continue"] = token
    return json.dumps(
        {
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": [
                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": m}
                for m in items
            ],
        }
    ).encode()


def test_a_page_gives_each_items_namespace_and_name_its_version_and_its_token() -> None:
    data = page([pod_metadata("a", "p0"), pod_metadata("b", "p1")], token="next-please")
    assert kube.listed_names(data) == ([("a", "p0"), ("b", "p1")], 90210, "next-please")


def test_the_last_page_has_no_token_and_an_empty_list_no_items() -> None:
    assert kube.listed_names(page([pod_metadata("a", "p0")])) == ([("a", "p0")], 90210, None)
    assert kube.listed_names(page([], token="")) == ([], 90210, None)
    empty = b'{"kind":"PartialObjectMetadataList","metadata":{"resourceVersion":"7"},"items":null}'
    assert kube.listed_names(empty) == ([], 7, None)


def test_names_elsewhere_in_an_object_never_stand_for_its_own() -> None:
    # Labels, annotations, owners and managedFields all hold keys called "name" or
    # "namespace" (and an annotation may be called anything): only metadata's own count.
    forged = pod_metadata("real-ns", "real-name")
    forged["labels"] = {"name": "forged", "namespace": "forged", "items": "forged"}
    forged["annotations"] = {"metadata": "forged", "name": "forged", "continue": "forged"}
    forged["managedFields"][0]["fieldsV1"] = {"metadata": {"name": "forged"}, "name": "forged"}
    data = page([forged], token="t")
    assert kube.listed_names(data) == ([("real-ns", "real-name")], 90210, "t")


def traced_peak(decode: Any, data: bytes) -> int:
    tracemalloc.start()
    try:
        kept = decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return peak


def test_decoding_a_page_never_holds_its_managed_fields_at_once() -> None:
    data = page([pod_metadata(f"ns-{i % 7}", f"pod-{i}") for i in range(500)], token="t")
    names, _, _ = kube.listed_names(data)
    assert len(names) == 500
    whole = traced_peak(json.loads, data)
    names_only = traced_peak(kube.listed_names, data)
    # Decoded whole, the page is ten times its JSON. Read for its names, it costs its text
    # (json.loads makes a str of the bytes first) and a few hundred KiB besides.
    assert whole > 4 * len(data), (whole, len(data))
    assert names_only < len(data) + whole / 50, (names_only, len(data), whole)
