"""`kubegym.operator.leanjson`: the API server's objects decoded without their managedFields,
everything else exactly as `json.loads` gives it, and kopf's watch stream decoding that way."""

from __future__ import annotations

import inspect
import json
import tracemalloc
from types import ModuleType
from typing import Any

import pytest

from kubegym.operator import leanjson


def pod(name: str = "p", managed: int = 3) -> dict[str, Any]:
    """A pod as the API server writes it: metadata (managedFields among it) first."""
    fields = {f"f:field-{i}": {".": {}, "f:inner": {'k:{"name":"x"}': {}}} for i in range(20)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {"managedFields": "a label may be called that", "app": "x"},
            "annotations": {"note": 'a string with "managedFields":[1] in it'},
            "managedFields": [
                {"manager": f"m{i}", "fieldsType": "FieldsV1", "fieldsV1": fields}
                for i in range(managed)
            ],
            "resourceVersion": "12",
        },
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def without_managed_fields(value: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(value))
    out["object"]["metadata"].pop("managedFields", None)
    return out


@pytest.mark.parametrize(
    "event",
    [
        {"type": "MODIFIED", "object": pod()},
        {"type": "ADDED", "object": pod(managed=0)},  # an empty array
        {"type": "DELETED", "object": {**pod(), "metadata": {"name": "last", "managedFields": []}}},
    ],
)
def test_an_event_decodes_to_what_json_gives_less_the_managed_fields(event: Any) -> None:
    text = compact(event)
    assert leanjson.loads(text) == without_managed_fields(event)
    assert leanjson.loads(text.encode()) == without_managed_fields(event)


def test_text_without_managed_fields_or_not_compact_is_decoded_whole() -> None:
    plain = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}}
    assert leanjson.loads(compact(plain)) == plain
    spaced = json.dumps({"type": "MODIFIED", "object": pod()})  # ", " and ": " separators
    assert leanjson.loads(spaced) == json.loads(spaced)
    # A string that holds the characters, escaped as a string must hold them, is never cut.
    tricky = compact({"note": '"managedFields":[', "n": 1})
    assert leanjson.loads(tricky) == {"note": '"managedFields":[', "n": 1}


def test_a_cut_that_would_break_the_text_falls_back_to_decoding_it_whole() -> None:
    broken = '{"managedFields":[1,2,{"a":]}'
    with pytest.raises(json.JSONDecodeError):
        leanjson.loads(broken)  # as json.loads would say it, not a half-cut error
    assert leanjson.loads('{"managedFields":[1],"b":2}') == {"b": 2}
    assert leanjson.loads('{"b":2,"managedFields":[1]}') == {"b": 2}
    assert leanjson.loads('{"managedFields":[1]}') == {}


def test_what_a_handler_holds_is_the_body_without_them() -> None:
    text = compact({"type": "MODIFIED", "object": pod(managed=6)})

    def held(decode: Any) -> int:
        tracemalloc.start()
        try:
            kept = decode(text)
            size = tracemalloc.get_traced_memory()[0]
            del kept
            return size
        finally:
            tracemalloc.stop()

    assert held(leanjson.loads) < held(json.loads) / 3


def test_install_makes_kopfs_watch_stream_decode_lean() -> None:
    from kopf._cogs.clients import api

    assert leanjson.install(api)
    assert leanjson.install(api), "a second install is a no-op"
    line = compact({"type": "MODIFIED", "object": pod()})
    assert "managedFields" not in api.json.loads(line)["object"]["metadata"]
    assert api.json.dumps({"a": 1}) == '{"a": 1}', "the rest of json is json's"
    # kopf's watch stream decodes each line through that name: if a kopf release stops
    # doing so, this fails and the install is to be looked at again.
    assert "json.loads(line" in inspect.getsource(api.stream)


def test_install_leaves_a_module_that_no_longer_uses_json_alone() -> None:
    changed = ModuleType("kopf_api_of_another_release")
    marker = object()
    changed.json = marker  # type: ignore[attr-defined]
    assert not leanjson.install(changed)
    assert changed.json is marker  # type: ignore[attr-defined]
    assert not leanjson.install(ModuleType("no_json_at_all"))


@pytest.mark.parametrize(
    "message",
    [
        '"managedFields":[{"forged":1}]',
        '\\",\\"managedFields\\":[',
        "x\\",  # a message ending in a backslash, which the JSON escapes as \\\\
        '{"end":"submitted","managedFields":[],"final":{"score":1e9}}',
    ],
)
def test_an_agents_termination_message_is_never_cut(message: str) -> None:
    """The agent writes its container's termination message (the pod's status, the
    evaluator record beside it): whatever it holds, the pod decodes to exactly what the
    API server sent, the message whole. Here the pod has no managedFields of its own, so
    a cut could only land in the message."""
    body = pod(managed=0)
    del body["metadata"]["managedFields"]
    body["status"]["containerStatuses"] = [
        {"name": "agent", "state": {"terminated": {"exitCode": 0, "message": message}}}
    ]
    event = {"type": "MODIFIED", "object": body}
    decoded = leanjson.loads(compact(event))
    assert decoded == event
    assert (
        decoded["object"]["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
        == message
    )
