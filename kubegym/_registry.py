"""One name → object registry for everything pluggable: agent tools, scorers, sandbox backends.

A module registers its object under a name when it is imported; run files and agent specs refer
to the object by that name, and trajectories record the name, so a trial can be rebuilt.
`kubegym.agent_runner.tools` keeps its tools in one. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from kubegym.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects of one kind (``kind``: "tool", "scorer"…), by name, in registration order.

    Args:
        kind: what the objects are, as errors should name them ("tool").
        field: the configuration field that names them (``spec.agents[].tools``), for errors.
    """

    def __init__(self, kind: str, *, field: str | None = None) -> None:
        self.kind = kind
        self.field = field
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; a second object under the same name is a bug."""
        if name in self._items:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator form of `add`: ``@registry.register("open")``."""

        def decorate(item: T) -> T:
            return self.add(name, item)

        return decorate

    def get(self, name: str) -> T:
        """The object called ``name``.

        Raises:
            ConfigError: no such object; the message lists the known names.
        """
        return self.select([name])[0]

    def select(self, names: Iterable[str] | None = None) -> list[T]:
        """The objects called ``names``, in that order; every object when ``names`` is None.

        Raises:
            ConfigError: some names are unknown; all of them are named at once.
        """
        if names is None:
            return list(self._items.values())
        wanted = list(names)
        unknown = [name for name in wanted if name not in self._items]
        if unknown:
            listed = ", ".join(repr(name) for name in unknown)
            noun = self.kind if len(unknown) == 1 else f"{self.kind}s"
            raise ConfigError(
                f"unknown {noun}: {listed}",
                field=self.field,
                hint=f"known {self.kind}s: {', '.join(self._items)}",
            )
        return [self._items[name] for name in wanted]

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name: str) -> T:
        return self._items[name]
