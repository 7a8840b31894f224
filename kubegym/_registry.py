"""One name → object registry, the mechanism behind kubegym's plug points.

A module registers its object under a name when it is imported; run files, agent specs and
flags refer to the object by that name, and trajectories record the name, so a trial can be
rebuilt. The registries built on it:

- the agent's tools (`kubegym.agent_runner.tools.base.TOOLS`, ``spec.agents[].tools``);
- the agent kinds (`kubegym.agent_runner.agents.KINDS`: model, image, baseline, replay);
- the store backends by URI scheme (`kubegym.store.backends.SCHEMES`: file, s3), with what
  an agent pod needs to reach each;
- the sandbox backends (`kubegym.sandbox.backends.BACKENDS`: bwrap, process), whose names
  are ``kubegym run --sandbox``'s choices.

Every registry refuses a second object under a name it holds. Standard library only (the
sandbox package, which task images install without dependencies, uses it).
"""

from __future__ import annotations

import contextlib
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

    @contextlib.contextmanager
    def added(self, name: str, item: T) -> Iterator[T]:
        """``item`` registered under ``name`` for a ``with`` block only (tests, plug-in trials):
        the name is free again afterwards, so nothing leaks into what runs next (a leaked
        sandbox backend would change ``kubegym run --help``, for one)."""
        self.add(name, item)
        try:
            yield item
        finally:
            del self._items[name]

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator form of `add`: ``@registry.register("open")``."""

        def decorate(item: T) -> T:
            return self.add(name, item)

        return decorate

    def get(self, name: str, *, field: str | None = None) -> T:
        """The object called ``name``.

        Args:
            name: the object's name.
            field: the field to name in the error, when it is more precise than the
                registry's own (``spec.agents[a].builtin``).

        Raises:
            ConfigError: no such object; the message lists the known names.
        """
        return self.select([name], field=field)[0]

    def select(self, names: Iterable[str] | None = None, *, field: str | None = None) -> list[T]:
        """The objects called ``names``, in that order; every object when ``names`` is None.

        Args:
            names: the objects' names.
            field: the field to name in the error instead of the registry's own.

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
                field=field or self.field,
                hint=self.known(),
            )
        return [self._items[name] for name in wanted]

    def known(self) -> str:
        """The known names, as errors list them: ``known tools: bash, open…``."""
        return f"known {self.kind}s: {', '.join(self._items)}"

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
