"""Every plug point is a `kubegym._registry.Registry`, and none takes a second object under a
name it holds: a plugin cannot silently replace a tool, an agent kind, a store or a sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from kubegym import _registry
from kubegym.agent_runner import agents, tools
from kubegym.errors import ConfigError
from kubegym.sandbox import backends as sandbox_backends
from kubegym.store import backends as store_backends

REGISTRIES: list[tuple[_registry.Registry[Any], str]] = [
    (tools.TOOLS, "open"),
    (agents.KINDS, "model"),
    (store_backends.SCHEMES, "s3"),
    (store_backends.SCHEMES, "file"),
    (sandbox_backends.BACKENDS, "bwrap"),
    (sandbox_backends.BACKENDS, "process"),
]


@pytest.mark.parametrize(("registry", "name"), REGISTRIES, ids=lambda x: getattr(x, "kind", x))
def test_a_second_registration_under_a_name_is_refused(
    registry: _registry.Registry[Any], name: str
) -> None:
    first = registry[name]
    with pytest.raises(ValueError, match="already registered"):
        registry.add(name, object())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(name)(object())
    assert registry[name] is first


def test_an_unknown_name_is_reported_at_the_field_the_caller_names() -> None:
    registry: _registry.Registry[int] = _registry.Registry("gadget", field="spec.gadgets[]")
    registry.add("one", 1)
    with pytest.raises(ConfigError) as default:
        registry.get("two")
    with pytest.raises(ConfigError) as precise:
        registry.get("two", field="spec.gadgets[3]")
    assert default.value.field == "spec.gadgets[]" and precise.value.field == "spec.gadgets[3]"
    assert precise.value.hint == registry.known() == "known gadgets: one"


def test_a_registration_for_a_block_leaves_nothing_behind() -> None:
    registry: _registry.Registry[int] = _registry.Registry("gadget")
    registry.add("kept", 1)
    with registry.added("trial", 2) as item:
        assert item == 2 and registry.names() == ["kept", "trial"]
    assert registry.names() == ["kept"]
    with pytest.raises(RuntimeError), registry.added("trial", 3):
        raise RuntimeError("the block failed")
    assert "trial" not in registry  # removed even when the block raised
    with pytest.raises(ValueError, match="already registered"), registry.added("kept", 4):
        pass
    assert registry["kept"] == 1


def test_the_cli_help_shows_only_kubegyms_own_sandbox_backends() -> None:
    # Tests that register a backend do so for their own module only: a leaked one would
    # change `kubegym run --help` and the committed CLI reference.
    assert sandbox_backends.BACKENDS.names() == ["bwrap", "process"]
