"""The house rules that keep the architecture easy to see, checked on the source itself.

- The package import graph has no cycle (lazy imports inside functions count: a cycle is a cycle).
- The arrows point inward: nothing in the library imports ``cli`` or ``server``; ``economics`` never calls a
  model; the bottom modules (the curve and metrics, the outcome record, checksums) import nothing of
  smallfirst but its errors.
- A module name means one thing: no file name repeats across packages.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "smallfirst"
BOTTOM = {"tradeoff", "outcomes", "checksums", "errors", "redact"}


def _imports() -> dict[str, set[str]]:
    """Top-level unit (package or module under smallfirst/) -> the other units it imports."""
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT).parts
        src = rel[0] if len(rel) > 1 else rel[0][:-3]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "smallfirst"
                                         else [])
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "smallfirst" and len(parts) > 1 and parts[1] != src:
                    edges[src].add(parts[1])
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    seen: set[str] = set()
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        if n in stack:
            return stack[stack.index(n):] + [n]
        if n in seen:
            return None
        seen.add(n)
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            found = visit(m)
            if found:
                return found
        stack.pop()
        return None

    for n in sorted(edges):
        found = visit(n)
        if found:
            return found
    return None


def test_no_import_cycle_between_packages() -> None:
    assert _cycle(_imports()) is None, " -> ".join(_cycle(_imports()) or [])


def test_the_library_never_imports_its_front_ends() -> None:
    edges = _imports()
    offenders = {src: dst & {"cli", "server"} for src, dst in edges.items() if src not in ("cli", "server")}
    assert not {k: v for k, v in offenders.items() if v}, offenders
    assert "cli" not in edges.get("server", set())


def test_economics_reads_costs_and_the_store_but_never_calls_a_model() -> None:
    assert not _imports().get("economics", set()) & {"service", "server", "cli", "demo"}
    # of models/, only the records (a Usage to price) may be read: never a backend, the pool or the registry
    for f in (ROOT / "economics").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("smallfirst.models"):
                assert node.module == "smallfirst.models.completion", (f, node.module)


def test_the_bottom_modules_import_nothing_else_of_smallfirst() -> None:
    edges = _imports()
    for unit in BOTTOM:
        assert edges.get(unit, set()) <= {"errors"}, (unit, edges.get(unit))


def test_no_module_name_repeats_across_packages() -> None:
    names = collections.Counter(f.name for f in ROOT.rglob("*.py") if f.name not in ("__init__.py", "__main__.py"))
    assert not [n for n, k in names.items() if k > 1], [n for n, k in names.items() if k > 1]
