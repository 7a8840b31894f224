"""Check kubegym's import layers: the contract in pyproject.toml's ``[tool.kubegym.layers]``.

Run by ``make lint`` (and by tests/unit/test_layers.py, which also shows it
failing on a planted violation). It reads every module under ``kubegym/`` with
`ast` (nothing is imported, so it is fast and needs no dependencies) and
checks three rules:

1. **Layers.** ``order`` lists the top-level parts of ``kubegym`` from the top
   down; a module may import its own part and any part below it, never one
   above. Parts on one line, separated by ``|``, are independent: neither may
   import the other.
2. **No cycles.** No two modules reach each other through imports, within a
   part or across parts, so an import moved into a function to dodge a cycle
   is still found.
3. **Every part is placed.** A new top-level module or package must be given a
   layer, so the contract cannot be skipped by adding a folder.

Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and
are not counted. Exit status 1 with one line per violation; 0 when the
contract holds.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One import of a kubegym module by another."""

    source: str
    target: str
    line: int
    in_function: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (namespace folders included)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        found[module_name(package, path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield other, in_function
                yield from _walk(other, in_function)
            continue
        inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        yield child, inner
        yield from _walk(child, inner)


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """The kubegym modules ``name`` imports, resolved to the deepest module that exists."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node, in_function in _walk(tree, False):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` names module a.b when it exists, else a name in module a.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append(Import(name, target, node.lineno, in_function))  # type: ignore[attr-defined]
    return found


def part_of(module: str, root: str) -> str:
    """The top-level part a module belongs to (``kubegym.store.s3`` → ``store``)."""
    rest = module[len(root) + 1 :] if module != root else ""
    return rest.split(".")[0] if rest else ""


def check(package: Path, order: list[str]) -> list[str]:
    """Every violation of the contract, one line each (empty when it holds)."""
    root = package.name
    layers = [[p.strip() for p in line.split("|")] for line in order]
    rank = {part: i for i, parts in enumerate(layers) for part in parts}
    known = modules(package)
    problems: list[str] = []
    for module in known:
        part = part_of(module, root)
        if part and part not in rank and part != "__main__":
            problems.append(f"{module}: part {part!r} has no layer in [tool.kubegym.layers]")
    edges: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for imp in imports_of(module, path, known):
            edges[module].add(imp.target)
            src, dst = part_of(module, root), part_of(imp.target, root)
            if not src or not dst or src == dst or src == "__main__":
                continue
            if src not in rank or dst not in rank:
                continue
            where = f"{known[module].as_posix()}:{imp.line}"
            if rank[dst] < rank[src]:
                problems.append(f"{where}: {module} imports {imp.target}, a layer above it")
            elif rank[dst] == rank[src]:
                problems.append(
                    f"{where}: {module} imports {imp.target}; {src} and {dst} are independent"
                )
    problems.extend(_cycles(edges, known))
    return problems


def _cycles(edges: dict[str, set[str]], known: dict[str, Path]) -> list[str]:
    """One line per import cycle (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    # A package's __init__ that re-exports its own modules is not a cycle of ideas:
    # skip components that are only a package and its own children importing it back.
    return [f"import cycle: {' → '.join(c)}" for c in found if not _package_reexport(c)]


def _package_reexport(component: list[str]) -> bool:
    heads = [m for m in component if all(o == m or o.startswith(m + ".") for o in component)]
    return bool(heads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--package", default="kubegym")
    args = parser.parse_args(argv)
    config = tomllib.loads((args.repo / "pyproject.toml").read_text(encoding="utf-8"))
    order = config["tool"]["kubegym"]["layers"]["order"]
    problems = check(args.repo / args.package, order)
    for line in problems:
        print(line)
    if problems:
        print(
            f"{len(problems)} violation(s) of the layer contract (pyproject.toml [tool.kubegym.layers])"
        )
        return 1
    print(f"layers: the contract holds for {len(modules(args.repo / args.package))} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
